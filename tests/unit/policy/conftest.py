"""Lists and groups shared by the policy tests."""

from __future__ import annotations

import pytest

from icapfilter.config import GroupConfig
from icapfilter.urls.errors import StoreUnavailable
from icapfilter.urls.loader import load_lists
from icapfilter.urls.memory_store import MemoryStore

GROUPS = [
    GroupConfig(name="kids", clients=["10.0.0.0/8"], block=["*"]),
    GroupConfig(name="teachers", clients=["10.1.0.0/16", "user:alice"], block=["adult"]),
    GroupConfig(name="default", block=["adult", "gambling"], allow=["news"]),
]


@pytest.fixture
def store(tmp_path) -> MemoryStore:
    """adult: porn.test; games: games.test; news: two URLs under both;
    the exception list: safe.porn.test."""
    for category, domains in [("adult", "porn.test\n"), ("games", "games.test\n"),
                              ("news", "games.test/news\nporn.test/news\n")]:
        (tmp_path / category).mkdir()
        (tmp_path / category / "domains").write_text(domains if "/" not in domains else "")
        if "/" in domains:
            (tmp_path / category / "urls").write_text(domains)
    (tmp_path / "exceptionsitelist").write_text("safe.porn.test\n")
    store = MemoryStore()
    load_lists(store, [tmp_path])
    return store


class DownStore(MemoryStore):
    """A list store that does not answer (Redis down)."""

    def lookup(self, hashes):
        raise StoreUnavailable("connection refused")

    def current_generation(self):
        raise StoreUnavailable("connection refused")
