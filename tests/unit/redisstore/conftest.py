"""Fixtures of the Redis adapter tests (defined once in tests/urlfixtures.py)."""

from tests.urlfixtures import redis_srv  # noqa: F401
