"""The adapter's fleet-wide services on a real redis-server: statistics snapshots
and reload notifications (the list stores have their own suites)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from icapfilter import redisstore
from tests.polling import wait_until
from tests.redisserver import RedisServer, redis_available, redis_server

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.timeout(30)]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    if not redis_available():
        pytest.skip("redis-server not installed")
    with redis_server(tmp_path / "redis") as running:
        yield running


def test_snapshots_of_every_worker_are_summed_and_expire(server: RedisServer) -> None:
    sink = redisstore.stats_sink(server.url, ttl=30)
    sink("host:1", {"requests": 2.0, "blocked": 1.0})
    sink("host:2", {"requests": 3.0})
    sink("host:1", {"requests": 5.0})  # a worker's new snapshot replaces its old one
    assert redisstore.collect_stats(server.url) == (2, {"requests": 8.0})
    ttls = [server.client().ttl(key) for key in server.client().keys("icapfilter:stats:*")]
    assert len(ttls) == 2 and all(0 < ttl <= 30 for ttl in ttls)


def test_a_published_reload_reaches_every_listener(server: RedisServer) -> None:
    stop = threading.Event()
    told = [threading.Event(), threading.Event()]
    listeners = [threading.Thread(target=redisstore.listen_for_reload, daemon=True,
                                  args=(server.url, stop, event.set)) for event in told]
    for listener in listeners:
        listener.start()
    try:
        wait_until(lambda: redisstore.publish_reload(server.url) >= 2,  # both subscribed
                   message="listeners never subscribed")
        assert all(event.wait(5) for event in told)
    finally:
        stop.set()
        for listener in listeners:
            listener.join(5)
    assert not any(listener.is_alive() for listener in listeners)
