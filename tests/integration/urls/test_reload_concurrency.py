"""Lookups hammered from threads while generations are switched underneath."""

from __future__ import annotations

import threading
import time

import pytest

from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.loader import load_lists
from icapfilter.urls.store import ListStore

pytestmark = pytest.mark.slow

N_HOSTS = 200


def test_lookups_never_see_a_mix_or_nothing(store: ListStore, write_tree) -> None:
    trees = []
    for gen in ("one", "two"):
        domains = "".join(f"h{i}.example\n" for i in range(N_HOSTS))
        urls = "".join(f"h{i}.example/path\n" for i in range(N_HOSTS))
        trees.append(write_tree({f"{gen}/{gen}/domains": domains, f"{gen}/{gen}/urls": urls}) / gen)
    load_lists(store, [trees[0]])

    stop = threading.Event()
    failures: list[str] = []
    seen: set[str] = set()
    counts = [0]

    def hammer(seed: int) -> None:
        engine = UrlEngine(store, cache_size=0)
        i = seed
        while not stop.is_set():
            hits = engine.lookup(f"http://www.h{i % N_HOSTS}.example/path/x")
            cats = {h.category for h in hits}
            if len(hits) != 2 or len(cats) != 1:
                failures.append(repr(hits))
                return
            seen.update(cats)
            counts[0] += 1
            i += 7

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        for n in range(12):
            load_lists(store, [trees[(n + 1) % 2]])
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not failures, failures[:3]
    assert seen == {"one", "two"}
    assert counts[0] > 50


def test_a_crashed_loaders_lock_blocks_reloads_only_until_it_expires(
        redis_srv, write_tree, monkeypatch) -> None:  # noqa: ANN001
    from icapfilter.redisstore.single import RedisStore
    from icapfilter.urls.errors import LoadError

    store = RedisStore(redis_srv.client())
    store.lock_seconds = 1
    tree = write_tree({"t/porn/domains": "a.example\n"}) / "t"
    crashed = store.new_generation()  # takes the lock, then "crashes": never commits
    assert crashed.generation
    with pytest.raises(LoadError, match="another list load is in progress"):
        load_lists(store, [tree])
    time.sleep(1.5)  # the crashed loader's lock runs out: time passing is the behaviour
    report = load_lists(store, [tree])
    assert report.generation and store.current_generation() == report.generation
