"""Statistics: the metrics of a worker, their sum over workers, the /metrics text."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from icapfilter import stats as stats_module
from icapfilter.cli import main
from icapfilter.config import Config
from icapfilter.metrics import MAX_LABEL_VALUES, REASONS, reason_kind
from icapfilter.outcome import Outcome
from icapfilter.policy import Client
from icapfilter.stats import (
    SnapshotWriter,
    Stats,
    UnsafeStatsDir,
    collect_folder,
    default_dir,
    exposition,
    forget_worker,
    prepare,
    private_dir,
    serve_prometheus,
)
from icapfilter.urls.errors import StoreUnavailable
from icapfilter.verdict import Verdict


def config_in(folder: Path) -> Config:
    config = Config()
    return replace(config, stats=replace(config.stats, dir=str(folder)))


@pytest.fixture
def folder(tmp_path):
    """A metrics folder this test's Stats write into; the in-memory mode after."""
    path = prepare(config_in(tmp_path / "metrics"))
    yield path
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    values.ValueClass = values.MutexValue
    stats_module._folder = None


def outcome(method: str, verdict: Verdict | None, ms: float, late: bool = False) -> Outcome:
    o = Outcome(service=method.lower(), method=method, client=Client("10.0.0.1"),
                verdict=verdict, late=late, body_bytes=100)
    o.started = time.monotonic() - ms / 1000
    return o


def families(folder: Path) -> dict:
    return {f.name: f for f in text_string_to_metric_families(exposition(folder).decode())}


def test_counters_by_service_verdict_reason_category_group_and_latency(folder):
    stats = Stats()
    stats.record(outcome("REQMOD", Verdict.allow("not listed"), 3), ("127.0.0.1", 1), None)
    stats.record(outcome("REQMOD", Verdict.block("listed in adult", "adult", group="kids"), 30),
                 ("", 0), None)
    stats.record(outcome("RESPMOD", Verdict.block("x", "phr", score=80), 3, late=True),
                 ("", 0), None)
    stats.record(outcome("RESPMOD", None, 1), ("", 0), "bad chunk")
    allowed = 'icapfilter_requests_total{service="reqmod",verdict="allow"}'
    assert collect_folder(folder)[1][allowed] == 0  # counted in memory until the next sample
    stats.sample()
    data = collect_folder(folder)[1]
    assert data['icapfilter_requests_total{service="reqmod",verdict="allow"}'] == 1
    assert data['icapfilter_requests_total{service="reqmod",verdict="block"}'] == 1
    assert data['icapfilter_requests_total{service="respmod",verdict="block_late"}'] == 1
    assert data['icapfilter_requests_total{service="respmod",verdict="error"}'] == 1
    assert data['icapfilter_decisions_total{category="adult",group="kids",reason="url-list",'
                'verdict="block"}'] == 1
    assert data['icapfilter_decisions_total{category="phr",group="default",reason="phrases",'
                'verdict="block_late"}'] == 1
    assert data['icapfilter_errors_total{status="0"}'] == 1
    assert data['icapfilter_request_duration_seconds_bucket{le="0.005",service="reqmod"}'] == 1
    assert data['icapfilter_request_duration_seconds_bucket{le="0.05",service="reqmod"}'] == 2
    assert data['icapfilter_request_duration_seconds_count{service="reqmod"}'] == 2
    assert 0.03 < data['icapfilter_request_duration_seconds_sum{service="reqmod"}'] < 1


def test_metrics_text_has_help_type_and_sorted_seconds_buckets(folder):
    stats = Stats()
    for ms in (0.5, 7, 70, 700, 20000):
        stats.record(outcome("REQMOD", Verdict.allow(), ms), ("", 0), None)
    stats.sample()
    text = exposition(folder).decode()
    assert "# TYPE icapfilter_request_duration_seconds histogram" in text
    assert "# HELP icapfilter_request_duration_seconds " in text
    assert "# TYPE icapfilter_requests_total counter" in text
    bounds = [line.split('le="')[1].split('"')[0] for line in text.splitlines()
              if line.startswith("icapfilter_request_duration_seconds_bucket")]
    assert bounds[-1] == "+Inf"
    assert [float(b) for b in bounds[:-1]] == sorted(float(b) for b in bounds[:-1])
    counts = [s.value for s in families(folder)["icapfilter_request_duration_seconds"].samples
              if s.name.endswith("_bucket")]
    assert counts == sorted(counts) and counts[-1] == 5  # cumulative


def test_every_family_has_help_and_type(folder):
    stats = Stats(gauges=lambda: {"icapfilter_open_connections": 2.0,
                                  "icapfilter_url_cache_hits_total": 7.0})
    stats.record(outcome("REQMOD", Verdict.allow(), 1), ("", 0), None)
    stats.sample()
    text = exposition(folder).decode()
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP")}
    assert names == helps
    assert {"icapfilter_open_connections", "icapfilter_url_cache_hits",
            "icapfilter_workers"} <= {f for f in families(folder)}


def test_workers_add_up_and_a_dead_worker_stops_counting_as_running(folder):
    parent = Stats()
    parent.record(outcome("REQMOD", Verdict.allow(), 1), ("", 0), None)
    parent.sample()
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a second worker: counts, then waits until told to exit
        try:
            child = Stats()
            child.record(outcome("REQMOD", Verdict.allow(), 1), ("", 0), None)
            child.record(outcome("REQMOD", Verdict.allow(), 1), ("", 0), None)
            child.sample()
            own = child.snapshot()['icapfilter_requests_total{service="reqmod",verdict="allow"}']
            os.write(ready_w, b"%d" % own)
            os.read(done_r, 1)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 8) == b"2"  # a worker's snapshot holds its own values only
        workers, data = collect_folder(folder)
        assert workers == 2
        assert data['icapfilter_requests_total{service="reqmod",verdict="allow"}'] == 3
    finally:
        os.write(done_w, b"x")
        os.waitpid(pid, 0)
    forget_worker(pid)
    assert collect_folder(folder)[0] == 1
    assert families(folder)["icapfilter_workers"].samples[0].value == 1


def test_files_of_processes_gone_are_removed_when_a_server_starts(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir(mode=0o700)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    (metrics / f"counter_{dead}.db").write_bytes(b"\0" * 16)
    (metrics / f"counter_{os.getpid()}.db").write_bytes(b"\0" * 16)
    try:
        prepare(config_in(metrics))
        assert sorted(p.name for p in metrics.iterdir()) == [f"counter_{os.getpid()}.db"]
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        values.ValueClass = values.MutexValue
        stats_module._folder = None


@given(st.text(max_size=60), st.booleans())
def test_any_reason_text_maps_to_one_of_a_fixed_set(reason, blocked):
    verdict = Verdict.block(reason) if blocked else Verdict.allow(reason)
    assert reason_kind(verdict) in REASONS


def test_category_label_values_are_capped(folder):
    stats = Stats()
    for i in range(MAX_LABEL_VALUES + 50):
        stats.record(outcome("REQMOD", Verdict.block("listed in c", f"c{i}"), 1), ("", 0), None)
    categories = {s.labels["category"] for s in families(folder)["icapfilter_decisions"].samples}
    assert len(categories) == MAX_LABEL_VALUES + 1 and "other" in categories


def test_counters_kept_elsewhere_grow_by_what_they_grew_and_survive_a_restart(folder):
    seen = iter([{"icapfilter_store_faults_total": 3.0}, {"icapfilter_store_faults_total": 5.0},
                 {"icapfilter_store_faults_total": 1.0}])  # 1.0: a reload reset the counter
    stats = Stats(gauges=lambda: next(seen))
    for _ in range(3):
        stats.sample()
    assert collect_folder(folder)[1]["icapfilter_store_faults_total"] == 6


class _Store:
    def __init__(self, up: bool = True) -> None:
        self.up = up

    def info(self):
        if not self.up:
            raise StoreUnavailable("redis: Connection refused")
        return SimpleNamespace(generation="20261205010000-abcd", loaded_at=time.time() - 90,
                               entries=1234)


def _policy(store: _Store) -> SimpleNamespace:
    return SimpleNamespace(generation="f00d", urls=SimpleNamespace(
        engine=SimpleNamespace(store=store)))


def test_lists_generation_age_entries_and_store_up(folder):
    store = _Store()
    stats = Stats(policy=lambda: _policy(store))
    stats.sample()
    data = collect_folder(folder)[1]
    assert data['icapfilter_lists_generation_info{generation="f00d",'
                'lists="20261205010000-abcd"}'] == 1
    assert 89 <= data["icapfilter_lists_age_seconds"] < 120
    assert data["icapfilter_lists_entries"] == 1234
    assert data["icapfilter_store_up"] == 1
    store.up = False
    stats.sample()
    assert collect_folder(folder)[1]["icapfilter_store_up"] == 0


def test_a_server_without_lists_has_no_list_series(folder):
    stats = Stats(policy=lambda: SimpleNamespace(generation="x", urls=SimpleNamespace(
        engine=None)))
    stats.sample()
    data = collect_folder(folder)[1]
    assert "icapfilter_lists_age_seconds" not in data and "icapfilter_store_up" not in data


def test_stats_command_prints_sums_and_fails_when_nobody_reports(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(f'[stats]\ndir = "{tmp_path / "s"}"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["stats", "--config", str(conf)]).exit_code == 1
    try:
        prepare(config_in(tmp_path / "s"))
        Stats(gauges=lambda: {"icapfilter_store_faults_total": 2.0}).sample()
        result = runner.invoke(main, ["stats", "--config", str(conf)])
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        values.ValueClass = values.MutexValue
        stats_module._folder = None
    assert result.exit_code == 0, result.output
    assert "workers reporting: 1" in result.output
    assert "icapfilter_store_faults_total 2" in result.output


def test_a_stopping_worker_writes_what_it_counted_since_the_last_sample(folder):
    stats = Stats()
    writer = SnapshotWriter(stats, lambda name, data: None, interval=3600).start()
    stats.record(outcome("REQMOD", Verdict.allow(), 1), ("", 0), None)
    writer.stop()
    data = collect_folder(folder)[1]
    assert data['icapfilter_requests_total{service="reqmod",verdict="allow"}'] == 1


def test_stopping_waits_for_the_snapshot_being_written_instead_of_writing_beside_it(folder):
    inside, most, entered = [0], [0], threading.Event()

    def slow_sink(name: str, data: dict[str, float]) -> None:
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        entered.set()
        time.sleep(0.3)
        inside[0] -= 1

    writer = SnapshotWriter(Stats(), slow_sink, interval=0.01).start()
    assert entered.wait(5)  # the thread is writing now
    writer.stop()
    assert most[0] == 1


def test_metrics_files_are_private(folder):
    Stats().record(outcome("REQMOD", Verdict.allow(), 1), ("", 0), None)
    assert folder.stat().st_mode & 0o077 == 0
    assert list(folder.glob("counter_*.db"))


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
        private_dir(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create another user's folder")
def test_a_stats_folder_owned_by_another_user_is_refused(tmp_path):
    folder = tmp_path / "stats"
    folder.mkdir(mode=0o755)
    os.chown(folder, 65534, 65534)
    with pytest.raises(UnsafeStatsDir, match="owned by uid 65534"):
        private_dir(folder)


def test_default_folder_planted_by_another_user_is_not_written_into(tmp_path, monkeypatch,
                                                                    caplog):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"icapfilter-stats-{os.geteuid()}"
    if default_dir() != planted:  # /run/icapfilter exists here: plant the temp dir's anyway
        monkeypatch.setattr(stats_module, "default_dir", lambda: planted)
    planted.mkdir()
    planted.chmod(0o777)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (planted / f"counter_{os.getpid()}.db").symlink_to(victim)
    try:
        with caplog.at_level(logging.ERROR, logger="icapfilter.stats"):
            used = prepare(Config())
        Stats().record(outcome("REQMOD", Verdict.allow(), 1), ("", 0), None)
        assert used != planted and used.stat().st_mode & 0o077 == 0
        assert collect_folder(used)[0] == 1
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        values.ValueClass = values.MutexValue
        stats_module._folder = None
    assert victim.read_text() == "precious"
    assert "stats folder not used" in caplog.text
    assert "writable by group or others" in caplog.text


def _metrics(port: int, host: str = "127.0.0.1") -> bytes:
    with socket.create_connection((host, port), timeout=5) as conn:
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


def test_an_idle_metrics_connection_is_closed_after_the_timeout(folder):
    server = serve_prometheus(("127.0.0.1", 0), folder, timeout=0.3)
    try:
        with socket.create_connection(server.server_address[:2], timeout=5) as idle:
            assert _closed_within(idle, 5)
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_connections_beyond_the_cap_are_closed_and_served_again_once_free(folder):
    Stats()
    server = serve_prometheus(("127.0.0.1", 0), folder, timeout=30, max_connections=2)
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
        assert b"icapfilter_workers 1.0" in reply
        assert b"Content-Type: text/plain; version=" in reply
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_answer_503_without_a_metrics_folder(tmp_path):
    server = serve_prometheus(("127.0.0.1", 0), tmp_path / "missing")
    try:
        assert _metrics(server.server_address[1]).startswith(b"HTTP/1.0 503")
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_listen_on_ipv6_loopback(folder):
    try:
        server = serve_prometheus(("::1", 0), folder)
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        assert _metrics(server.server_address[1], "::1").startswith(b"HTTP/1.0 200")
    finally:
        server.shutdown()
        server.server_close()


def test_a_reload_names_a_changed_stats_folder_as_needing_a_restart(tmp_path):
    from icapfilter.runstate.changes import restart_keys

    old = config_in(tmp_path / "a")
    new = replace(config_in(tmp_path / "b"), stats=replace(old.stats, dir=str(tmp_path / "b"),
                                                           interval=1.0))
    assert restart_keys(old, new) == ["[stats] dir"]


def test_the_default_stats_folder_is_the_first_writable_run_folder(tmp_path, monkeypatch):
    var_run = tmp_path / "var" / "run" / "icapfilter"  # FreeBSD's rc.d script makes it
    var_run.mkdir(parents=True)
    monkeypatch.setattr(stats_module, "RUN_DIRS", (tmp_path / "run" / "icapfilter", var_run))
    assert default_dir() == var_run


def test_users_without_the_run_folder_get_default_stats_folders_of_their_own(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(stats_module.os, "access", lambda path, mode: False)
    monkeypatch.setattr(stats_module.os, "geteuid", lambda: 1000)
    first = default_dir()
    monkeypatch.setattr(stats_module.os, "geteuid", lambda: 1001)
    assert first != default_dir() and first.parent == default_dir().parent == tmp_path


def test_a_replaced_generation_leaves_no_series_behind(folder):
    policy = SimpleNamespace(generation="g1", urls=SimpleNamespace(
        engine=SimpleNamespace(store=_Store())))
    stats = Stats(policy=lambda: policy)
    stats.sample()
    for generation in ("g2", "g3"):  # two reloads
        policy.generation = generation
        stats.sample()
    kept = [key for key in collect_folder(folder)[1] if "generation_info" in key]
    assert kept == ['icapfilter_lists_generation_info{generation="g3",'
                    'lists="20261205010000-abcd"}']
    samples = families(folder)["icapfilter_lists_generation_info"].samples
    assert [s.labels["generation"] for s in samples] == ["g3"]
