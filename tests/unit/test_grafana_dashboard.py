"""docs/grafana-dashboard.json: written from bench/metrics_dashboard.py, and
every metric it queries is one the server exposes."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import values

from icapfilter import stats as stats_module
from icapfilter.config import Config
from icapfilter.outcome import Outcome
from icapfilter.stats import Stats, exposition, prepare
from icapfilter.verdict import Verdict

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("metrics_dashboard",
                                                  ROOT / "bench" / "metrics_dashboard.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_the_committed_dashboard_is_the_one_the_tool_writes():
    committed = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    assert committed == json.loads(json.dumps(_tool().dashboard()))


@pytest.fixture
def served(tmp_path):
    """The families a server with lists exposes after some traffic."""
    config = Config()
    prepare(replace(config, stats=replace(config.stats, dir=str(tmp_path / "m"))))
    try:
        info = SimpleNamespace(generation="g", loaded_at=time.time(), entries=3)
        policy = SimpleNamespace(generation="p", urls=SimpleNamespace(
            engine=SimpleNamespace(store=SimpleNamespace(info=lambda: info))))
        stats = Stats(gauges=lambda: {"icapfilter_open_connections": 1.0}, policy=lambda: policy)
        outcome = Outcome(service="reqmod", method="REQMOD", verdict=Verdict.block("x", "c"))
        outcome.started = time.monotonic()
        stats.record(outcome, (), None)
        stats.sample()
        yield exposition(stats_module.metrics_folder()).decode()
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        values.ValueClass = values.MutexValue
        stats_module._folder = None


def test_every_metric_the_dashboard_queries_is_exposed(served):
    exposed = set(re.findall(r"^(icapfilter_\w+)", served, re.M))
    queried = set(re.findall(r"icapfilter_\w+",
                             (ROOT / "docs" / "grafana-dashboard.json").read_text()))
    assert queried and queried <= exposed, queried - exposed


def test_the_picture_computes_histogram_quantiles_as_prometheus_does():
    quantile = _tool()._quantile
    buckets = {0.1: 50.0, 0.2: 90.0, 0.5: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.7, buckets) == pytest.approx(0.15)
    assert quantile(0.95, buckets) == pytest.approx(0.35)
    assert quantile(0.5, {0.1: 0.0, float("inf"): 0.0}) is None
