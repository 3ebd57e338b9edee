"""The adapter's facade: what the rest of icapfilter may ask of Redis, without a server.

A "down" Redis is a closed loopback port (refused at once).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from icapfilter import redisstore
from icapfilter.redisstore.cluster import ClusterStore
from icapfilter.redisstore.failfast import FAULT_BACKOFF
from icapfilter.redisstore.single import RedisStore
from icapfilter.urls.errors import StoreUnavailable
from icapfilter.urls.memory_store import MemoryStore
from tests.redisserver import free_port


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6379/0",
    "rediss://user:pw@127.0.0.1:6380/1",
    "unix:///run/redis.sock",
    "redis+cluster://127.0.0.1:7000",
    "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,[::1]:7002",
    "redis+cluster://u:pw@127.0.0.1:7000,127.0.0.1:7001?socket_timeout=2",
])
def test_urls_every_store_accepts_pass_the_check(url: str) -> None:
    redisstore.check_url(url)


@pytest.mark.parametrize(("url", "says"), [
    ("http://u:secret@127.0.0.1:6379", "must be a redis://"),
    ("127.0.0.1:6379", "no scheme"),
    ("redis://u:secret@127.0.0.1:notaport/0", "not a valid Redis URL"),
    ("redis+cluster://u:secret@127.0.0.1:7000,:7001", "no host"),
    ("redis+cluster://u:secret@127.0.0.1:7000?bogus=1", "unknown option"),
])
def test_bad_urls_say_what_is_wrong_without_the_password(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        redisstore.check_url(url)
    assert "secret" not in str(caught.value)


def test_open_store_picks_the_store_by_scheme_without_connecting() -> None:
    single = redisstore.open_store(f"redis://127.0.0.1:{free_port()}/0", prefix="p")
    cluster = redisstore.open_store(f"redis+cluster://127.0.0.1:{free_port()}")
    assert isinstance(single, RedisStore) and single.prefix == "p"
    assert isinstance(cluster, ClusterStore)


def test_only_a_servers_store_fails_fast() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert redisstore.open_store(url, fail_fast=True).guard.backoff == FAULT_BACKOFF
    assert redisstore.open_store(url).guard.backoff == 0.0


@pytest.mark.parametrize("make", [
    lambda store: redisstore.learned_cache(store),
    lambda store: redisstore.rate_limiter(store, 5, 60),
])
def test_learned_cache_and_rate_limiter_need_a_redis_store(make) -> None:  # noqa: ANN001
    with pytest.raises(TypeError, match="not a Redis list store"):
        make(MemoryStore())


@pytest.mark.timeout(10)
def test_a_down_redis_is_store_unavailable_for_reload_and_statistics() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreUnavailable):
        redisstore.publish_reload(url)
    with pytest.raises(StoreUnavailable):
        redisstore.collect_stats(url)
    with pytest.raises(StoreUnavailable):
        redisstore.stats_sink(url, 30)("host:1", {"a": 1.0})


@pytest.mark.timeout(10)
def test_the_reload_listener_outlives_a_down_redis_and_stops_when_told() -> None:
    stop = threading.Event()
    reloads: list[None] = []
    listener = threading.Thread(target=redisstore.listen_for_reload, daemon=True, args=(
        f"redis://127.0.0.1:{free_port()}/0", stop, lambda: reloads.append(None)))
    listener.start()
    time.sleep(0.2)  # it must keep retrying, not die, while Redis refuses
    assert listener.is_alive()
    stop.set()
    listener.join(5)
    assert not listener.is_alive() and not reloads


@pytest.mark.parametrize("module", [
    "icapfilter.urls.store", "icapfilter.config", "icapfilter.redisstore", "icapfilter.app",
    "icapfilter.stats",
])
def test_importing_outside_the_adapter_does_not_load_redis(module: str) -> None:
    """A deployment without Redis never imports it; the contract pulls no client in."""
    code = f"import sys, {module}; sys.exit('redis' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()[-500:]
