"""/metrics and `icapfilter stats` of a running server: every worker summed, a
killed worker's counts kept, the lists' age and the store's availability."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.icapserver import IcapClient, redis_with_lists, reqmod
from tests.icapserver import serve_process as start
from tests.icapserver import stop_process as stop
from tests.polling import wait_until
from tests.squidserver import free_port

pytestmark = pytest.mark.integration

ALLOWED = 'icapfilter_requests_total{service="reqmod",verdict="allow"}'
BLOCKED = 'icapfilter_requests_total{service="reqmod",verdict="block"}'


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


def workers_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        pytest.skip("needs Linux /proc to find the worker processes")
    return [int(p) for p in path.read_text().split()]


def send(port: int, count: int) -> None:
    """``count`` REQMODs on one connection; every fourth, from the first, is blocked."""
    with IcapClient(port) as client:
        for i in range(count):
            client.transact(reqmod(f"http://{'bad' if i % 4 == 0 else 'ok'}.test/{i}"))


def lists(tmp_path: Path) -> Path:
    (tmp_path / "bl" / "adult").mkdir(parents=True)
    (tmp_path / "bl" / "adult" / "domains").write_text("bad.test\n")
    return tmp_path / "bl"


def test_a_killed_worker_keeps_its_counts_and_its_replacement_reports(tmp_path):
    metrics_port = free_port()
    conf = tmp_path / "c.toml"
    conf.write_text(f'[stats]\ndir = "{tmp_path / "stats"}"\ninterval = 0.2\n'
                    f'prometheus = "127.0.0.1:{metrics_port}"\n'
                    f'[lists]\npaths = ["{lists(tmp_path)}"]\n')
    proc, port = start("--workers", "2", config=str(conf))
    try:
        for _ in range(4):  # new connections: the kernel spreads them over both workers
            send(port, 10)
        assert wait_until(lambda: scrape(metrics_port).get(ALLOWED) == 28 or None)
        data = scrape(metrics_port)
        assert data[BLOCKED] == 12 and data["icapfilter_workers"] == 2
        assert data['icapfilter_decisions_total{category="adult",group="default",'
                    'reason="url-list",verdict="block"}'] == 12
        assert 0 <= data["icapfilter_lists_age_seconds"] < 600
        assert data["icapfilter_store_up"] == 1 and data["icapfilter_lists_entries"] == 1
        victim = workers_of(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in workers_of(proc.pid) and len(workers_of(proc.pid)) == 2)
        wait_until(lambda: scrape(metrics_port)["icapfilter_workers"] == 2)
        send(port, 4)
        data = wait_until(lambda: (d := scrape(metrics_port))[ALLOWED] == 31 and d)
        assert data[BLOCKED] == 13  # the killed worker's counts still count
    finally:
        assert stop(proc) == 0


@pytest.mark.redis
def test_stats_sum_the_fleet_through_redis_and_metrics_show_the_store_going_down(tmp_path):
    with redis_with_lists(lists(tmp_path)) as redis:
        metrics_port = free_port()
        conf = tmp_path / "c.toml"
        conf.write_text(f'[store]\nredis = "{redis.url}"\non_error = "allow"\n'
                        f'[stats]\ndir = "{tmp_path / "stats"}"\ninterval = 0.2\n'
                        f'prometheus = "127.0.0.1:{metrics_port}"\n')
        other_conf = tmp_path / "other.toml"  # a second server: its own folder, same Redis
        other_conf.write_text(f'[store]\nredis = "{redis.url}"\non_error = "allow"\n'
                              f'[stats]\ndir = "{tmp_path / "stats2"}"\ninterval = 0.2\n')
        proc, port = start("--workers", "2", config=str(conf))
        other, other_port = start(config=str(other_conf))
        try:
            send(port, 8)  # 2 blocked
            send(other_port, 4)  # 1 blocked

            def fleet() -> dict | None:
                done = subprocess.run([sys.executable, "-m", "icapfilter", "stats", "--config",
                                       str(conf), "--json"], capture_output=True, text=True,
                                      timeout=60)
                got = json.loads(done.stdout) if done.returncode == 0 else {}
                counters = got.get("counters", {})
                return got if counters.get(ALLOWED, 0) + counters.get(BLOCKED, 0) == 12 else None

            got = wait_until(fleet)
            assert got["workers"] == 3 and got["counters"][BLOCKED] == 3
            assert scrape(metrics_port)["icapfilter_store_up"] == 1
            redis.stop()
            assert wait_until(lambda: scrape(metrics_port)["icapfilter_store_up"] == 0)
        finally:
            stop(other)
            stop(proc)
