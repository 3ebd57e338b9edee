"""Fixtures of the URL list tests (defined once in tests/urlfixtures.py)."""

from tests.urlfixtures import REDIS, store, write_tree  # noqa: F401
