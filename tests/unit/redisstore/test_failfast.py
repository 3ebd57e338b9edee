"""How RedisStore's clients and guard turn Redis faults into quick StoreUnavailable.

No server needed: errors are raised by hand, and the "down" Redis is a closed
loopback port (connection refused at once). The same faults against a real
redis-server through the ICAP server: tests/integration/test_redis_faults.py.
"""

from __future__ import annotations

import time

import pytest
import redis

from icapfilter.redisstore import learned_cache, open_store, rate_limiter
from icapfilter.redisstore.client import CONNECT_TIMEOUT, READ_TIMEOUT, redis_client
from icapfilter.redisstore.failfast import FailFast
from icapfilter.redisstore.single import RedisStore
from icapfilter.urls.errors import StoreUnavailable
from tests.redisserver import free_port

ERRORS = [
    redis.exceptions.ConnectionError("refused"),
    redis.exceptions.TimeoutError("timed out"),
    redis.exceptions.BusyLoadingError("LOADING"),
    redis.exceptions.ResponseError("WRONGTYPE"),
    redis.exceptions.NoScriptError("NOSCRIPT"),
    redis.exceptions.ReadOnlyError("READONLY"),
]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fail(guard: FailFast, error: Exception) -> None:
    with pytest.raises(StoreUnavailable), guard():
        raise error


def passes(guard: FailFast) -> bool:
    """True when the guarded block ran (not failed fast)."""
    ran = False
    try:
        with guard():
            ran = True
    except StoreUnavailable:
        pass
    return ran


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_every_redis_error_becomes_store_unavailable(error: Exception) -> None:
    fail(FailFast(), error)


def test_other_exceptions_are_not_disguised_as_store_faults() -> None:
    with pytest.raises(KeyError), FailFast()():
        raise KeyError("a bug stays a bug")


def test_after_a_connection_error_calls_fail_fast_until_the_backoff_ends() -> None:
    clock = Clock()
    guard = FailFast(1.0, clock)
    fail(guard, redis.exceptions.ConnectionError("refused"))
    assert guard.down and not passes(guard)
    clock.now += 0.9
    assert not passes(guard)
    clock.now += 0.2
    assert passes(guard)  # the probe went through and succeeded
    assert not guard.down and passes(guard)


def test_only_one_caller_probes_while_the_others_keep_failing_fast() -> None:
    clock = Clock()
    guard = FailFast(1.0, clock)
    fail(guard, redis.exceptions.TimeoutError("timed out"))
    clock.now += 1.5
    with guard():  # the probe, still in flight...
        assert not passes(guard)  # ...so a concurrent call does not wait on Redis too
    assert passes(guard)


def test_a_failed_probe_starts_a_new_backoff() -> None:
    clock = Clock()
    guard = FailFast(1.0, clock)
    fail(guard, redis.exceptions.ConnectionError("refused"))
    clock.now += 1.5
    fail(guard, redis.exceptions.ConnectionError("still refused"))
    clock.now += 0.5
    assert not passes(guard)


def test_an_error_reply_proves_redis_is_reachable_and_does_not_fail_fast() -> None:
    guard = FailFast(1.0, Clock())
    fail(guard, redis.exceptions.ResponseError("WRONGTYPE"))
    assert not guard.down and passes(guard)


def test_without_backoff_every_call_is_tried() -> None:
    guard = FailFast(0.0, Clock())
    fail(guard, redis.exceptions.ConnectionError("refused"))
    assert not guard.down and passes(guard)


def test_a_store_built_from_a_url_has_short_socket_timeouts() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    kwargs = store.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == READ_TIMEOUT
    assert kwargs["socket_connect_timeout"] == CONNECT_TIMEOUT
    assert kwargs["health_check_interval"] > 0
    assert store.write_client.connection_pool.connection_kwargs["socket_timeout"] > READ_TIMEOUT


def test_timeouts_in_the_url_win() -> None:
    client = redis_client(f"redis://127.0.0.1:{free_port()}/0?socket_timeout=2")
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 2.0


@pytest.mark.timeout(10)
def test_store_learned_cache_and_rate_limiter_fail_quickly_when_redis_is_down() -> None:
    store = open_store(f"redis://127.0.0.1:{free_port()}/0", fail_fast=True)
    assert isinstance(store, RedisStore)
    calls = [
        lambda: store.current_generation(),
        lambda: store.lookup([1, 2, 3]),
        lambda: store.info(),
        lambda: learned_cache(store).get("g", "1", "http://x/"),
        lambda: learned_cache(store).put("g", "1", "u", "v", 5),
        lambda: rate_limiter(store, 5, 60).hit("10.0.0.1"),
    ]
    started = time.monotonic()
    for call in calls:
        with pytest.raises(StoreUnavailable):
            call()
    assert time.monotonic() - started < 2 * CONNECT_TIMEOUT
    assert store.guard.down  # shared: the first refusal made the others fail fast
