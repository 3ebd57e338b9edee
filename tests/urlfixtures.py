"""Fixtures shared by the URL list tests (unit and integration): list trees
in tmp_path and both store kinds. The conftest files re-export them; the
Redis they use is tests/conftest.py's ``redis_srv``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from icapfilter.redisstore.single import RedisStore
from icapfilter.urls.store import ListStore, MemoryStore
from tests.redisserver import RedisServer

WriteTree = Callable[[dict[str, str | bytes]], Path]


@pytest.fixture
def write_tree(tmp_path: Path) -> WriteTree:
    """Create files from {relative path: text or bytes}; returns the root."""

    def write(files: dict[str, str | bytes]) -> Path:
        for rel, content in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            else:
                path.write_bytes(content)
        return tmp_path

    return write


REDIS = pytest.param("redis", marks=[pytest.mark.integration, pytest.mark.redis])


@pytest.fixture(params=["memory", REDIS])
def store(request: pytest.FixtureRequest) -> ListStore:
    """Every test using this runs against both stores: same semantics required."""
    if request.param == "memory":
        return MemoryStore()
    server: RedisServer = request.getfixturevalue("redis_srv")
    client = server.client()
    client.flushall()
    return RedisStore(client)
