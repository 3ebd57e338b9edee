"""The decision cache holds the latest generations only: list reloads must not
leave the decisions of replaced generations behind (they can never be hit
again, and used to pile up to the cap: a slow RSS climb in the soak)."""

from __future__ import annotations

import sys

from icapfilter.urls.engine import UrlEngine, _Lru
from icapfilter.urls.loader import load_lists
from icapfilter.urls.store import MemoryStore

HOSTS = [f"h{i}.test" for i in range(50)]


def test_reloads_do_not_accumulate_decisions_of_old_generations(tmp_path):
    folder = tmp_path / "adult"
    folder.mkdir()
    (folder / "domains").write_text("h1.test\n")
    store = MemoryStore()
    engine = UrlEngine(store, cache_size=10_000)
    generations = set()
    for _reload in range(8):
        load_lists(store, [tmp_path])
        generations.add(store.current_generation())
        for host in HOSTS:
            engine.lookup(f"http://{host}/page")
        assert [h.category for h in engine.lookup("http://h1.test/x")] == ["adult"]
    assert len(generations) == 8
    # the current and the previous generation at most (threads may still see
    # the previous one for pointer_ttl after a switch)
    assert len(engine._cache) <= 2 * len(HOSTS)
    assert {key[0] for key in engine._cache._data} <= generations


def test_generation_id_is_stored_once_per_generation():
    cache = _Lru(100)
    for i in range(10):
        # a fresh string per lookup, as RedisStore returns it
        generation = "".join(["20261126101500-", "abcdef01"])
        cache.put((generation, f"host:h{i}.test"), ())
    ids = {id(key[0]) for key in cache._data}
    assert len(ids) == 1
    assert sys.getrefcount(next(iter(cache._data))[0]) > 10


def test_previous_generation_stays_cached_during_a_switch():
    cache = _Lru(100)
    cache.put(("g1", "host:a"), ())
    cache.put(("g2", "host:a"), ())
    cache.put(("g1", "host:b"), ())  # a thread still on the old pointer
    assert cache.get(("g1", "host:a")) == () and cache.get(("g2", "host:a")) == ()
    cache.put(("g3", "host:a"), ())
    assert cache.get(("g1", "host:a")) is None and cache.get(("g1", "host:b")) is None
    assert cache.get(("g2", "host:a")) == () and len(cache) == 2
