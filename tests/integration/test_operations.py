"""What an admin touches: statistics, reload through Redis or a pid file,
the access log and its rotation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.icapserver import IcapClient, reqmod
from tests.icapserver import serve_process as start
from tests.icapserver import stop_process as stop
from tests.polling import PipeWatch, wait_until
from tests.redisserver import RedisServer, redis_available, redis_server
from tests.squidserver import free_port

pytestmark = pytest.mark.integration


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icapfilter", *args], capture_output=True,
                          text=True, timeout=60)


def test_stats_sum_every_worker_and_feed_prometheus(tmp_path):
    metrics_port = free_port()
    conf = tmp_path / "c.toml"
    conf.write_text(f'[stats]\ndir = "{tmp_path / "stats"}"\ninterval = 0.3\n'
                    f'prometheus = "127.0.0.1:{metrics_port}"\n'
                    f'[lists]\npaths = ["{tmp_path / "bl"}"]\n')
    (tmp_path / "bl" / "adult").mkdir(parents=True)
    (tmp_path / "bl" / "adult" / "domains").write_text("bad.test\n")
    proc, port = start("--workers", "2", config=str(conf))
    try:
        for i in range(30):
            with IcapClient(port) as c:
                c.transact(reqmod(f"http://{'bad' if i % 3 == 0 else 'ok'}.test/{i}"))

        def counted():
            done = cli("stats", "--config", str(conf), "--json")
            data = json.loads(done.stdout)["counters"] if done.returncode == 0 else {}
            allowed = data.get('icapfilter_requests_total{service="reqmod",verdict="allow"}', 0)
            blocked = data.get('icapfilter_requests_total{service="reqmod",verdict="block"}', 0)
            return (allowed, blocked) if allowed + blocked == 30 else None

        assert wait_until(counted, interval=0.2) == (20, 10)
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                      timeout=5).read().decode()
        assert ('icapfilter_decisions_total{category="adult",group="default",reason="url-list",'
                'verdict="block"} 10.0') in text
        assert "icapfilter_workers 2.0" in text
        assert 'icapfilter_request_duration_seconds_count{service="reqmod"} 30.0' in text
        assert "# TYPE icapfilter_request_duration_seconds histogram" in text
        assert "icapfilter_lists_age_seconds " in text and "icapfilter_store_up 1.0" in text
    finally:
        assert stop(proc) == 0


def test_reload_by_pid_file(tmp_path):
    pid_file = tmp_path / "icapfilter.pid"
    conf = tmp_path / "c.toml"
    conf.write_text(f'[server]\npid_file = "{pid_file}"\n')
    proc, port = start(config=str(conf))
    stderr = PipeWatch(proc.stderr)
    try:
        done = cli("reload", "--config", str(conf))
        assert done.returncode == 0, done.stderr
        assert f"reloaded: 1 worker (pid {proc.pid})" in done.stdout
        wait_until(lambda: b"reloaded" in stderr.available())
    finally:
        stop(proc)


@pytest.mark.redis
def test_reload_through_redis_reaches_every_worker(tmp_path):
    if not redis_available():
        pytest.skip("redis-server not installed")
    with redis_server(tmp_path / "redis") as redis:
        conf = tmp_path / "c.toml"
        conf.write_text(f'[store]\nredis = "{redis.url}"\non_error = "allow"\n')
        proc, port = start("--workers", "2", config=str(conf))
        stderr = PipeWatch(proc.stderr)
        try:
            wait_until(lambda: listeners(redis) == 2, message="workers never subscribed")
            done = cli("reload", "--config", str(conf))
            assert done.returncode == 0, done.stderr
            assert "reload sent to 2 worker(s)" in done.stdout
            wait_until(lambda: stderr.available().count(b"reloaded") >= 2)
        finally:
            stop(proc)
        assert stderr.rest().count(b"reloaded") == 2


def listeners(redis: RedisServer) -> int:
    """Subscriptions on ``redis`` (each worker subscribes to the reload channel once it runs)."""
    client = redis.client()
    try:
        channels = client.pubsub_channels()
        return sum(int(n) for _, n in client.pubsub_numsub(*channels)) if channels else 0
    finally:
        client.close()


def test_access_log_lines_and_reopen_on_sigusr1(tmp_path):
    log = tmp_path / "access.log"
    conf = tmp_path / "c.toml"
    conf.write_text(f'[log]\naccess = "{log}"\n')
    proc, port = start(config=str(conf))
    try:
        with IcapClient(port) as c:
            c.transact(reqmod("http://one.test/"))
        text = wait_until(lambda: "one.test" in log.read_text() and log.read_text())
        record = json.loads(next(line for line in text.splitlines() if "one.test" in line))
        for key in ("time", "client_ip", "user", "group", "method", "url", "verdict",
                    "category", "reason", "score", "bytes", "ms"):
            assert key in record
        assert record["url"] == "http://one.test/" and record["verdict"] == "allow"
        log.rename(tmp_path / "access.log.0")
        os.kill(proc.pid, signal.SIGUSR1)
        wait_until(log.exists)  # reopened
        with IcapClient(port) as c:
            c.transact(reqmod("http://two.test/"))
        assert wait_until(lambda: "http://two.test/" in log.read_text())
    finally:
        stop(proc)


def test_log_rotation_under_load_loses_no_line(tmp_path):
    import threading

    log = tmp_path / "access.log"
    conf = tmp_path / "c.toml"
    conf.write_text(f'[log]\naccess = "{log}"\n')
    proc, port = start(config=str(conf))
    sent = []

    def traffic(n: int) -> None:
        with IcapClient(port) as c:
            for i in range(150):
                url = f"http://t{n}.test/{i}"
                c.transact(reqmod(url))
                sent.append(url)

    try:
        threads = [threading.Thread(target=traffic, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for generation in range(3):
            # rotate once the reopened file has taken lines (or the traffic is over)
            wait_until(lambda: log.exists() and (log.stat().st_size > 0
                                                 or not any(t.is_alive() for t in threads)))
            log.rename(tmp_path / f"access.log.{generation}")
            os.kill(proc.pid, signal.SIGUSR1)
        for t in threads:
            t.join(timeout=60)
        wait_until(lambda: len(logged_urls(tmp_path)) >= len(sent))
    finally:
        stop(proc)
    logged = logged_urls(tmp_path)
    assert len(sent) == 450
    assert sorted(u for u in logged if u != "-") == sorted(sent)


def logged_urls(folder) -> list[str]:  # type: ignore[no-untyped-def]
    return [json.loads(line)["url"] for path in folder.glob("access.log*")
            for line in path.read_text().splitlines() if line.endswith("}")]
