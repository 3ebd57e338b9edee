"""Statistics: one worker's counters, their sum over workers, Prometheus text."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from icapfilter.cli import main
from icapfilter.policy import Client
from icapfilter.server.transaction import Outcome
from icapfilter.stats import (
    Stats,
    collect_files,
    cumulative_buckets,
    file_sink,
    prometheus_text,
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
