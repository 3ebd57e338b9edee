"""Statistics: one worker's counters, their sum over workers, Prometheus text."""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from icapfilter.cli import main
from icapfilter.config import Config
from icapfilter.outcome import Outcome
from icapfilter.policy import Client
from icapfilter.stats import (
    Stats,
    UnsafeStatsDir,
    collect_files,
    cumulative_buckets,
    default_dir,
    file_sink,
    private_dir,
    prometheus_text,
    serve_prometheus,
    stats_sink,
)
from icapfilter.verdict import Verdict


def outcome(method: str, verdict: Verdict | None, ms: float, late: bool = False) -> Outcome:
    o = Outcome(service=method.lower(), method=method, client=Client("10.0.0.1"),
                verdict=verdict, late=late, body_bytes=100)
    o.started = time.monotonic() - ms / 1000
    return o


def test_counters_by_service_verdict_category_and_latency():
    stats = Stats(gauges=lambda: {"icapfilter_url_cache_hits_total": 7.0})
    stats.record(outcome("REQMOD", Verdict.allow(), 3), ("127.0.0.1", 1), None)
    stats.record(outcome("REQMOD", Verdict.block("x", "adult", group="kids"), 30), ("", 0), None)
    stats.record(outcome("RESPMOD", Verdict.block("x", "phr"), 3, late=True), ("", 0), None)
    stats.record(outcome("RESPMOD", None, 1), ("", 0), "bad chunk")
    data = stats.snapshot()
    assert data['icapfilter_requests_total{service="reqmod",verdict="allow"}'] == 1
    assert data['icapfilter_requests_total{service="reqmod",verdict="block"}'] == 1
    assert data['icapfilter_requests_total{service="respmod",verdict="block_late"}'] == 1
    assert data['icapfilter_requests_total{service="respmod",verdict="error"}'] == 1
    assert data['icapfilter_blocked_total{category="adult",group="kids"}'] == 1
    assert data["icapfilter_url_cache_hits_total"] == 7.0
    buckets = cumulative_buckets(data)
    assert buckets['icapfilter_latency_ms_bucket{le="5",service="reqmod"}'] == 1
    assert buckets['icapfilter_latency_ms_bucket{le="50",service="reqmod"}'] == 2
    assert buckets['icapfilter_latency_ms_count{service="reqmod"}'] == 2
    assert 'icapfilter_latency_ms_bucket{le="+Inf",service="reqmod"} 2' in prometheus_text(data)


def test_snapshots_of_workers_add_up_and_stale_ones_are_ignored(tmp_path):
    sink = file_sink(tmp_path)
    sink("host:1", {"a": 1.0, "b": 2.0})
    sink("host:2", {"a": 3.0})
    stale = tmp_path / "stats-host-3.json"
    stale.write_text(json.dumps({"time": time.time() - 3600, "data": {"a": 100.0}}))
    assert collect_files(tmp_path) == (2, {"a": 4.0, "b": 2.0})


def test_stats_command_prints_sums_and_fails_when_nobody_reports(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(f'[stats]\ndir = "{tmp_path / "s"}"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["stats", "--config", str(conf)]).exit_code == 1
    file_sink(tmp_path / "s")("h:1", {"icapfilter_store_faults_total": 2.0})
    result = runner.invoke(main, ["stats", "--config", str(conf)])
    assert result.exit_code == 0
    assert "workers reporting: 1" in result.output
    assert "icapfilter_store_faults_total 2" in result.output


def test_a_symlink_planted_as_the_temporary_snapshot_is_not_written_through(tmp_path):
    folder = tmp_path / "stats"
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (folder / "stats-host-1.tmp").symlink_to(victim)
    (folder / "stats-host-1.json").symlink_to(victim)
    file_sink(folder)("host:1", {"a": 1.0})
    assert victim.read_text() == "precious"
    assert not (folder / "stats-host-1.json").is_symlink()
    assert collect_files(folder) == (1, {"a": 1.0})


def test_snapshot_files_are_private(tmp_path):
    file_sink(tmp_path)("host:1", {"a": 1.0})
    assert (tmp_path / "stats-host-1.json").stat().st_mode & 0o077 == 0


def test_a_missing_stats_folder_is_created_private(tmp_path):
    folder = private_dir(tmp_path / "new")
    assert folder.is_dir() and folder.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("problem", ["symlink", "other-writable", "group-writable", "file"])
def test_a_stats_folder_others_could_write_into_is_refused(tmp_path, problem):
    folder = tmp_path / "stats"
    if problem == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        folder.symlink_to(tmp_path / "elsewhere")
    elif problem == "file":
        folder.write_text("")
    else:
        folder.mkdir()
        folder.chmod(0o777 if problem == "other-writable" else 0o770)
    with pytest.raises(UnsafeStatsDir, match=str(folder)):
        file_sink(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create another user's folder")
def test_a_stats_folder_owned_by_another_user_is_refused(tmp_path):
    folder = tmp_path / "stats"
    folder.mkdir(mode=0o755)
    os.chown(folder, 65534, 65534)
    with pytest.raises(UnsafeStatsDir, match="owned by uid 65534"):
        file_sink(folder)


def test_default_folder_planted_by_another_user_disables_snapshots(tmp_path, monkeypatch,
                                                                   caplog):
    if Path("/run/icapfilter").is_dir():
        pytest.skip("/run/icapfilter exists: the default folder is not the temp dir")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / "icapfilter-stats"
    planted.mkdir()
    planted.chmod(0o777)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    name = f"{socket.gethostname()}-{os.getpid()}"
    (planted / f"stats-{name}.tmp").symlink_to(victim)
    assert default_dir() == planted
    with caplog.at_level(logging.ERROR, logger="icapfilter.stats"):
        sink = stats_sink(Config())
    sink(f"{socket.gethostname()}:{os.getpid()}", {"a": 1.0})
    assert victim.read_text() == "precious"
    assert "stats snapshots disabled" in caplog.text
    assert "writable by group or others" in caplog.text


def _metrics(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        return data


def _closed_within(conn: socket.socket, seconds: float) -> bool:
    conn.settimeout(seconds)
    try:
        return conn.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_an_idle_metrics_connection_is_closed_after_the_timeout():
    server = serve_prometheus(("127.0.0.1", 0), lambda: (1, {"a": 1.0}), timeout=0.3)
    try:
        with socket.create_connection(server.server_address[:2], timeout=5) as idle:
            assert _closed_within(idle, 5)
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_connections_beyond_the_cap_are_closed_and_served_again_once_free():
    server = serve_prometheus(("127.0.0.1", 0), lambda: (1, {"a": 1.0}), timeout=30,
                              max_connections=2)
    port = server.server_address[1]
    try:
        idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            assert _closed_within(extra, 5)
        assert server.refused >= 1
        for conn in idle:
            conn.close()
        deadline = time.monotonic() + 5
        reply = b""
        while time.monotonic() < deadline and b"200" not in reply[:20]:
            reply = _metrics(port)
        assert b"icapfilter_workers_reporting 1" in reply
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_answer_503_when_the_store_is_down():
    def down() -> tuple[int, dict[str, float]]:
        raise ConnectionError("redis down")

    server = serve_prometheus(("127.0.0.1", 0), down)
    try:
        assert _metrics(server.server_address[1]).startswith(b"HTTP/1.0 503")
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_listen_on_ipv6_loopback():
    try:
        server = serve_prometheus(("::1", 0), lambda: (1, {}))
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        with socket.create_connection(("::1", server.server_address[1]), timeout=5) as conn:
            conn.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            assert conn.recv(12) == b"HTTP/1.0 200"
    finally:
        server.shutdown()
        server.server_close()


def test_stats_does_not_count_a_snapshot_that_is_a_link(tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"time": time.time(), "data": {"a": 100.0}}))
    folder = tmp_path / "stats"
    file_sink(folder)("host:1", {"a": 1.0})
    (folder / "stats-planted.json").symlink_to(elsewhere)
    assert collect_files(folder) == (1, {"a": 1.0})
