"""Learned cache and rate limiter: same semantics in memory and Redis."""

from __future__ import annotations

import pytest

from icapfilter.learned import MemoryLearnedCache
from icapfilter.ratelimit import MemoryRateLimiter
from icapfilter.redisstore.learned import RedisLearnedCache
from icapfilter.redisstore.ratelimit import RedisRateLimiter

REDIS = pytest.param("redis", marks=[pytest.mark.integration, pytest.mark.redis])


@pytest.fixture(params=["memory", REDIS])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis_srv").client().flushall()
    return request.param


def learned(backend: str, request: pytest.FixtureRequest, local_seconds: int = 30):
    if backend == "memory":
        return MemoryLearnedCache()
    return RedisLearnedCache(request.getfixturevalue("redis_srv").client(),
                             local_seconds=local_seconds, miss_seconds=local_seconds)


def limiter(backend: str, request: pytest.FixtureRequest, clock, limit: int = 3, window: int = 10):
    if backend == "memory":
        return MemoryRateLimiter(limit, window, clock=clock)
    client = request.getfixturevalue("redis_srv").client()
    return RedisRateLimiter(client, limit, window, clock=clock)


def test_learned_first_verdict_wins_and_keys_are_scoped(backend, request) -> None:
    cache = learned(backend, request)
    assert cache.get("kids", "g1", "http://x/") is None
    assert cache.put("kids", "g1", "http://x/", "block", ttl=60) is True
    assert cache.put("kids", "g1", "http://x/", "allow", ttl=60) is False
    assert cache.get("kids", "g1", "http://x/") == "block"
    assert cache.get("staff", "g1", "http://x/") is None
    assert cache.get("kids", "g2", "http://x/") is None
    with pytest.raises(ValueError):
        cache.put("kids", "g1", "http://y/", "block", ttl=0)


def test_learned_entries_expire(backend, request, monkeypatch) -> None:
    cache = learned(backend, request, local_seconds=0)
    cache.put("g", "gen", "u", "allow", ttl=1)
    if backend == "memory":
        import icapfilter.learned as mod

        real = mod.time.monotonic
        monkeypatch.setattr(mod.time, "monotonic", lambda: real() + 2)
    else:
        key = cache._key("g", "gen", "u")
        assert 0 < cache.client.ttl(key) <= 1
        cache.client.pexpire(key, 1)
        import time

        time.sleep(0.01)
    assert cache.get("g", "gen", "u") is None


def test_rate_limit_fixed_window(backend, request) -> None:
    now = [1000.0]
    rl = limiter(backend, request, clock=lambda: now[0])
    assert [rl.hit("10.0.0.1") for _ in range(5)] == [True, True, True, False, False]
    assert rl.hit("10.0.0.2") is True
    now[0] += 10  # next window
    assert rl.hit("10.0.0.1") is True
    if backend == "redis":
        keys = rl.client.keys("icapfilter:rl:*")
        assert keys and all(0 < rl.client.ttl(k) <= 11 for k in keys)


def test_redis_learned_verdict_found_once_is_kept_locally_for_a_while(request, monkeypatch):
    import icapfilter.learned as mod

    client = request.getfixturevalue("redis_srv").client()
    client.flushall()
    writer = RedisLearnedCache(client)
    reader = RedisLearnedCache(client, local_seconds=30, miss_seconds=0)
    assert reader.get("g", "gen", "http://a/") is None  # with miss_seconds 0 a miss is not kept
    assert writer.put("g", "gen", "http://a/", "allow", ttl=600)
    assert reader.get("g", "gen", "http://a/") == "allow"
    client.flushall()  # gone from Redis: the local copy still answers ...
    assert reader.get("g", "gen", "http://a/") == "allow"
    assert writer.get("g", "gen", "http://a/") == "allow"  # (the writer kept its own)
    real = mod.time.monotonic
    monkeypatch.setattr(mod.time, "monotonic", lambda: real() + 31)
    assert reader.get("g", "gen", "http://a/") is None  # ... for local_seconds only


def test_redis_learned_miss_is_kept_briefly_and_replaced_by_a_verdict_stored_here(
        request, monkeypatch) -> None:
    import icapfilter.learned as mod

    client = request.getfixturevalue("redis_srv").client()
    client.flushall()
    other = RedisLearnedCache(client)
    mine = RedisLearnedCache(client, miss_seconds=2)
    assert mine.get("g", "gen", "http://a/") is None
    assert other.put("g", "gen", "http://a/", "allow", ttl=600)
    assert mine.get("g", "gen", "http://a/") is None  # the miss is still kept ...
    real = mod.time.monotonic
    monkeypatch.setattr(mod.time, "monotonic", lambda: real() + 3)
    assert mine.get("g", "gen", "http://a/") == "allow"  # ... for miss_seconds only
    assert mine.get("g", "gen", "http://b/") is None
    assert mine.put("g", "gen", "http://b/", "block", ttl=600)
    assert mine.get("g", "gen", "http://b/") == "block"  # a verdict stored here replaces the miss
    assert other.get("g", "gen", "http://c/") is None
    assert mine.put("g", "gen", "http://c/", "allow", ttl=600)
    assert other.put("g", "gen", "http://c/", "block", ttl=600) is False  # lost the race ...
    assert other.get("g", "gen", "http://c/") == "allow"  # ... and reads the winner, not its miss
