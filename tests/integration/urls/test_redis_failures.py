"""RedisStore under failure: crashes, partitions, sharing between servers."""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from icapfilter.redisstore.single import RedisStore
from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.errors import LoadError, StoreUnavailable
from icapfilter.urls.loader import load_lists
from tests.redisserver import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def big_tree(write_tree, name: str, n: int):
    return write_tree({f"{name}/big/domains": "".join(f"h{i}.{name}.example\n" for i in range(n))})


def fast_fail_client(server: RedisServer) -> redis.Redis:
    return server.client(
        socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )


def test_killed_mid_load_keeps_old_generation(fresh_redis: RedisServer, write_tree) -> None:
    store = RedisStore(fast_fail_client(fresh_redis), pipeline_size=20)
    old = load_lists(store, [write_tree({"old/keep/domains": "keep.example\n"}) / "old"])
    store.client.save()  # persisted only by this explicit SAVE, as a real deployment would

    def kill_on_first_write(stage: str, done: int, total: int | None) -> None:
        if stage == "write" and done:
            fresh_redis.kill()

    with pytest.raises(LoadError, match="store unavailable") as err:
        load_lists(store, [big_tree(write_tree, "new", 20000)], progress=kill_on_first_write)
    assert err.value.report is not None and not err.value.report.activated
    with pytest.raises(StoreUnavailable):
        UrlEngine(store, cache_size=0).lookup("http://keep.example/")

    fresh_redis.start()  # restart: same port and dir, reads dump.rdb
    assert store.current_generation() == old.generation
    engine = UrlEngine(store, cache_size=0)
    assert [h.category for h in engine.lookup("http://keep.example/")] == ["keep"]
    assert engine.lookup("http://h1.new.example/") == []


def test_frozen_mid_load_keeps_old_and_next_load_cleans_up(
    fresh_redis: RedisServer, write_tree
) -> None:
    store = RedisStore(fast_fail_client(fresh_redis), pipeline_size=20)
    old = load_lists(store, [write_tree({"old/keep/domains": "keep.example\n"}) / "old"])

    def freeze(stage: str, done: int, total: int | None) -> None:
        if stage == "write" and done:
            fresh_redis.freeze()

    try:
        with pytest.raises(LoadError):
            load_lists(store, [big_tree(write_tree, "new", 20000)], progress=freeze)
    finally:
        fresh_redis.thaw()
    assert store.current_generation() == old.generation
    assert [h.category for h in UrlEngine(store).lookup("http://keep.example/")] == ["keep"]
    assert len(store.generations()) == 2  # the abandoned one is still there...
    store.client.delete(f"{store.prefix}:lock")  # (its lock would expire by itself)
    new = load_lists(store, [big_tree(write_tree, "newer", 10)])
    assert store.generations() == [new.generation]  # ...until the next load
    keys = {k.split(b":")[3] for k in store.client.keys(b"icapfilter:bl:g:*")}
    assert keys == {new.generation.encode()}


def test_store_down_raises_store_unavailable(fresh_redis: RedisServer, write_tree) -> None:
    store = RedisStore(fast_fail_client(fresh_redis))
    load_lists(store, [write_tree({"l/c/domains": "a.example\n"}) / "l"])
    fresh_redis.stop()
    with pytest.raises(StoreUnavailable):
        UrlEngine(store, cache_size=0).lookup("http://a.example/")
    with pytest.raises(LoadError, match="store unavailable"):
        load_lists(store, [write_tree({"l/c/domains": "a.example\n"}) / "l"])


def test_two_servers_share_one_redis(redis_srv: RedisServer, write_tree) -> None:
    redis_srv.client().flushall()
    loader_side = RedisStore(redis_srv.url)
    server_a = UrlEngine(RedisStore(redis_srv.url, pointer_ttl=0), cache_size=100)
    server_b = UrlEngine(RedisStore(redis_srv.url), cache_size=0)
    load_lists(loader_side, [write_tree({"a/one/domains": "x.example\n"}) / "a"])
    assert [h.category for h in server_a.lookup("http://x.example/")] == ["one"]
    report = load_lists(loader_side, [write_tree({"b/two/domains": "x.example\n"}) / "b"])
    assert [h.category for h in server_a.lookup("http://x.example/")] == ["two"]
    assert [h.category for h in server_b.lookup("http://x.example/")] == ["two"]
    assert server_a.generation == server_b.generation == report.generation


def test_one_round_trip_per_decision(redis_srv: RedisServer, write_tree) -> None:
    client = redis_srv.client()
    client.flushall()
    store = RedisStore(client)
    load_lists(store, [write_tree({"a/one/domains": "x.example\n"}) / "a"])
    engine = UrlEngine(store, cache_size=0)
    engine.lookup("http://warm.example/")  # category table fetched once per generation

    inside_script = ("cmdstat_info", "cmdstat_get", "cmdstat_hget")  # Redis counts those too

    def calls() -> dict[str, int]:
        stats = client.info("commandstats")
        return {k: v["calls"] for k, v in stats.items() if k not in inside_script}

    before = calls()
    for n in range(10):
        engine.lookup(f"http://a.b.c.d{n}.example/p/q/r?s=t")
    after = calls()
    delta = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
    assert delta == {"cmdstat_evalsha": 10}


def test_buckets_stay_listpack(redis_srv: RedisServer, write_tree) -> None:
    client = redis_srv.client()
    client.flushall()
    store = RedisStore(client)
    load_lists(store, [big_tree(write_tree, "lp", 5000)])
    keys = client.keys(b"icapfilter:bl:g:*")
    assert keys and all(client.object("encoding", k) == b"listpack" for k in keys[:200])
    assert all(len(k.rsplit(b":", 1)[1]) == 2 for k in keys if k.count(b":") == 4)
