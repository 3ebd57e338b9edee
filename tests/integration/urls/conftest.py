"""Fixtures of the URL list integration tests (shared ones in tests/urlfixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redisserver import RedisServer, redis_available
from tests.urlfixtures import REDIS, store, write_tree  # noqa: F401


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test alone, which it may kill, freeze or restart."""
    if not redis_available():
        pytest.skip("redis-server not installed")
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
