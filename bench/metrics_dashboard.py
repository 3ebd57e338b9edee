"""The Grafana dashboard of docs/grafana-dashboard.json, and a picture of it
drawn from a real run.

    python bench/metrics_dashboard.py json       # write docs/grafana-dashboard.json
    python bench/metrics_dashboard.py record     # run a server under traffic, scrape /metrics
    python bench/metrics_dashboard.py draw       # docs/img/metrics-dashboard.png from it

``record`` starts ``icapfilter serve --workers 2`` with a small list tree,
phrase lists and two groups, sends a changing mix of REQMODs and RESPMODs for
``--seconds`` (reloading the lists halfway), scrapes ``/metrics`` every two
seconds and keeps the scrapes as JSON lines. ``draw`` computes each panel's
PromQL from those scrapes (the few forms the dashboard uses: ``sum by``,
``rate``, ``histogram_quantile``, ``min``/``max``/``sum``) and draws them with
matplotlib, in the dashboard's layout. Grafana itself is not needed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
PICTURE = ROOT / "docs" / "img" / "metrics-dashboard.png"
SCRAPES = Path(tempfile.gettempdir()) / "icapfilter-metrics-scrapes.jsonl"

BLOCKS = 'verdict=~"block.*"'


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"


PANELS = (
    Panel("Decisions per second by verdict",
          (("sum by (verdict) (rate(icapfilter_decisions_total[$__rate_interval]))",
            "{{verdict}}"),), "reqps"),
    Panel("Blocks per second by category",
          ((f"sum by (category) (rate(icapfilter_decisions_total{{{BLOCKS}}}"
            "[$__rate_interval]))", "{{category}}"),), "reqps"),
    Panel("Blocks per second by group",
          ((f"sum by (group) (rate(icapfilter_decisions_total{{{BLOCKS}}}[$__rate_interval]))",
            "{{group}}"),), "reqps"),
    Panel("Decisions per second by reason",
          (("sum by (reason) (rate(icapfilter_decisions_total[$__rate_interval]))",
            "{{reason}}"),), "reqps"),
    Panel("ICAP latency by service (p50, p99)",
          (("histogram_quantile(0.5, sum by (le, service) "
            "(rate(icapfilter_request_duration_seconds_bucket[$__rate_interval])))",
            "p50 {{service}}"),
           ("histogram_quantile(0.99, sum by (le, service) "
            "(rate(icapfilter_request_duration_seconds_bucket[$__rate_interval])))",
            "p99 {{service}}")), "s"),
    Panel("ICAP messages per second by service",
          (("sum by (service) (rate(icapfilter_requests_total[$__rate_interval]))",
            "{{service}}"),), "reqps"),
    Panel("Age of the URL lists in force",
          (("max(icapfilter_lists_age_seconds)", "age"),), "s"),
    Panel("List store up; list entries",
          (("min(icapfilter_store_up)", "store up"),
           ("max(icapfilter_lists_entries)", "entries")), "short"),
    Panel("Workers and open connections",
          (("sum(icapfilter_workers)", "workers"),
           ("sum(icapfilter_open_connections)", "open connections")), "short"),
)


# -- the dashboard JSON ------------------------------------------------------

def dashboard() -> dict:
    panels = []
    for i, panel in enumerate(PANELS):
        panels.append({
            "id": i + 1,
            "type": panel.kind,
            "title": panel.title,
            "gridPos": {"h": 8, "w": 8, "x": (i % 3) * 8, "y": (i // 3) * 8},
            "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
            "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"},
                        "tooltip": {"mode": "multi"}},
            "targets": [{"refId": chr(ord("A") + j), "expr": expr, "legendFormat": legend,
                         "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}}
                        for j, (expr, legend) in enumerate(panel.targets)],
        })
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
                      "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "title": "icapfilter",
        "uid": "icapfilter",
        "description": "icapfilter's /metrics (docs/operations.md, Metrics)",
        "tags": ["icapfilter", "squid", "icap"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": [{"name": "DS_PROMETHEUS", "type": "datasource",
                                 "query": "prometheus", "label": "Prometheus"}]},
        "panels": panels,
    }


# -- recording a real run ----------------------------------------------------

def _lists(root: Path, extra: str = "") -> Path:
    bl = root / "bl"
    for category, domains in [("adult", ["adult.test", "xxx.test"]),
                              ("gambling", ["casino.test", "bet.test"]),
                              ("games", ["games.test"]), ("social", ["social.test"])]:
        (bl / category).mkdir(parents=True, exist_ok=True)
        (bl / category / "domains").write_text("\n".join(domains) + "\n" + extra)
    return bl


def record(seconds: float, out: Path) -> None:
    from tests.icapserver import IcapClient, chunked, reqmod, respmod_head
    from tests.icapserver import serve_process as start
    from tests.icapserver import stop_process as stop
    from tests.squidserver import free_port

    root = Path(tempfile.mkdtemp(prefix="icapfilter-dashboard-"))
    bl = _lists(root)
    phrases = root / "phrases"
    phrases.mkdir()
    (phrases / "weightedphraselist").write_text(
        '#listcategory: "Gambling"\n<casino><30>\n<poker><30>\n')
    metrics_port = free_port()
    conf = root / "icapfilter.toml"
    conf.write_text(f"""
[lists]
paths = ["{bl}"]
[phrases]
dir = "{phrases}"
[stats]
dir = "{root / 'stats'}"
interval = 1.0
prometheus = "127.0.0.1:{metrics_port}"
[[groups]]
name = "staff"
clients = ["10.2.0.0/16"]
block = ["adult"]
[[groups]]
name = "pupils"
clients = ["10.1.0.0/16"]
block = ["adult", "gambling", "games", "social"]
naughtiness_limit = 50
""")
    proc, port = start("--workers", "2", config=str(conf))
    stop_event = threading.Event()
    started = time.monotonic()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        hosts = ["www.example.test"] * 12 + ["news.test"] * 6 + ["adult.test", "casino.test",
                                                                 "games.test", "social.test"]
        while not stop_event.is_set():
            phase = (time.monotonic() - started) / seconds
            with IcapClient(port) as c:
                for _ in range(50):
                    who = f"10.{1 if rng.random() < 0.7 else 2}.0.{rng.randint(1, 200)}"
                    host = rng.choice(hosts)
                    if 0.3 < phase < 0.6 and rng.random() < 0.2:
                        host = "casino.test"  # a burst of gambling traffic
                    url = f"http://{host}/{rng.randint(1, 10**6)}"
                    extra = f"X-Client-IP: {who}\r\n"
                    if rng.random() < 0.5:
                        c.transact(reqmod(url, extra=extra))
                    else:
                        words = b" casino poker " * rng.choice([0, 0, 0, 1, 2])
                        body = b"<html><body>" + b"text " * rng.randint(50, 4000) + words
                        res = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
                        c.send(respmod_head(url, res, preview=None, allow204=True, extra=extra))
                        c.send(chunked(body))
                        c.read_response()
                    time.sleep(rng.expovariate(1 / (0.004 + 0.01 * (1 + math.sin(phase * 6)))))
            if stop_event.wait(0.01):
                return

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    reloaded = False
    with out.open("w") as sink:
        while time.monotonic() - started < seconds:
            if not reloaded and time.monotonic() - started > seconds / 2:
                _lists(root, extra="more.adult.test\n")
                os.kill(proc.pid, signal.SIGHUP)
                reloaded = True
            text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                          timeout=5).read().decode()
            sink.write(json.dumps({"t": time.time(), "text": text}) + "\n")
            time.sleep(2.0)
    stop_event.set()
    for t in threads:
        t.join(timeout=10)
    stop(proc)
    print(f"{out}: {sum(1 for _ in out.open())} scrapes")


# -- evaluating the dashboard's PromQL on the scrapes ------------------------

Series = dict[tuple[tuple[str, str], ...], float]


def _parse(text: str) -> dict[str, Series]:
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, Series] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[s.name][tuple(sorted(s.labels.items()))] = s.value
    return found


def _select(series: Series, selector: str) -> Series:
    tests = re.findall(r'(\w+)(=~|=)"([^"]*)"', selector or "")
    return {labels: v for labels, v in series.items()
            if all((re.fullmatch(val, dict(labels).get(k, "")) if op == "=~"
                    else dict(labels).get(k, "") == val) for k, op, val in tests)}


def _sum_by(series: Series, by: list[str]) -> Series:
    out: Series = defaultdict(float)
    for labels, v in series.items():
        out[tuple((k, dict(labels).get(k, "")) for k in by)] += v
    return dict(out)


RATE = re.compile(r"rate\((\w+)(\{[^}]*\})?\[[^\]]+\]\)")
WINDOW = 10.0  # seconds: a short run's $__rate_interval


def evaluate(expr: str, scrapes: list[tuple[float, dict[str, Series]]]
             ) -> dict[str, list[tuple[float, float]]]:
    """Lines of ``expr`` (legend key -> points) over the scrapes."""
    lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    quantile = re.match(r"histogram_quantile\(([\d.]+), sum by \(le, (\w+)\) \((.*)\)\)$", expr)
    plain = re.match(r"(sum|min|max)\((\w+)\)$", expr)
    by = re.match(r"sum by \(([\w, ]+)\) \((.*)\)$", expr)
    for i, (t, now) in enumerate(scrapes):
        j = i
        while j > 0 and t - scrapes[j - 1][0] <= WINDOW:
            j -= 1
        if plain:
            values = list(now.get(plain.group(2), {}).values())
            if values:
                fn = {"sum": sum, "min": min, "max": max}[plain.group(1)]
                lines[""].append((t, fn(values)))
            continue
        inner = quantile.group(3) if quantile else by.group(2) if by else expr
        m = RATE.fullmatch(inner)
        if m is None or j == i:
            continue
        name, selector = m.group(1), m.group(2)
        then_t, then = scrapes[j]
        rates = {labels: max(0.0, v - then.get(name, {}).get(labels, 0.0)) / (t - then_t)
                 for labels, v in _select(now.get(name, {}), selector).items()}
        if quantile:
            q, group = float(quantile.group(1)), quantile.group(2)
            per: dict[str, dict[float, float]] = defaultdict(dict)
            for labels, r in _sum_by(rates, ["le", group]).items():
                per[labels[1][1]][float(labels[0][1])] = r
            for key, buckets in per.items():
                value = _quantile(q, buckets)
                if value is not None:
                    lines[key].append((t, value))
        else:
            keys = [k.strip() for k in by.group(1).split(",")] if by else []
            for labels, r in _sum_by(rates, keys).items():
                lines[",".join(v for _, v in labels)].append((t, r))
    return lines


def _quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile: linear inside the bucket holding the rank."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(buckets[bound] - below, 1e-12)
        lower, below = bound, buckets[bound]
    return lower


def draw(scrapes_file: Path, picture: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scrapes = []
    for line in scrapes_file.read_text().splitlines():
        item = json.loads(line)
        scrapes.append((item["t"], _parse(item["text"])))
    start = scrapes[0][0]
    rows = math.ceil(len(PANELS) / 3)
    fig, axes = plt.subplots(rows, 3, figsize=(18, 4.2 * rows))
    for ax, panel in zip(axes.flat, PANELS, strict=True):
        for expr, legend in panel.targets:
            for key, points in sorted(evaluate(expr, scrapes).items()):
                label = re.sub(r"\{\{\w+\}\}", key, legend) if "{{" in legend else legend
                xs = [p[0] - start for p in points]
                ax.plot(xs, [p[1] * (1000 if panel.unit == "s" and "latency" in panel.title
                                     else 1) for p in points], label=label or "value")
        unit = {"reqps": "per second", "s": "seconds"}.get(panel.unit, "")
        if "latency" in panel.title:
            unit = "milliseconds"
        ax.set_title(panel.title, fontsize=11)
        ax.set_xlabel("seconds into the run", fontsize=8)
        ax.set_ylabel(unit, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.suptitle("icapfilter: the panels of docs/grafana-dashboard.json, from /metrics "
                 f"scraped every 2 s in a {scrapes[-1][0] - start:.0f} s run "
                 "(2 workers, 4 ICAP clients, lists reloaded halfway)", fontsize=12)
    fig.tight_layout()
    picture.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(picture, dpi=80)
    print(f"wrote {picture}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["json", "record", "draw"])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--scrapes", type=Path, default=SCRAPES)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.command == "json":
        path = args.out or DASHBOARD
        path.write_text(json.dumps(dashboard(), indent=2) + "\n")
        print(f"wrote {path}")
    elif args.command == "record":
        record(args.seconds, args.scrapes)
    else:
        draw(args.scrapes, args.out or PICTURE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
