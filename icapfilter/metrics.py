"""The Prometheus metrics of one worker, through ``prometheus_client``.

Every worker of a server writes its values into memory-mapped files of one
folder (``prometheus_client``'s multiprocess mode), so the process serving
``/metrics`` and ``icapfilter stats`` add them up without asking the workers.
:func:`use_folder` must run before the first metric is made: the parent calls
it before it forks, and the workers inherit it.

Label values are bounded: services and verdicts are fixed, reasons are mapped
to :data:`REASONS`, categories come from the lists and groups from the
configuration, and past :data:`MAX_LABEL_VALUES` distinct values of one label
the rest count as ``other``, so a list with thousands of categories cannot
blow up the series count.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram, values
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from .outcome import Outcome
from .verdict import Verdict

#: Histogram buckets of the ICAP message duration, in seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: What a decision was based on; :func:`reason_kind` maps a verdict's text to one.
REASONS = ("url-list", "exception-list", "phrases", "clean", "learned", "not-listed",
           "not-scanned", "no-lists", "rate-limit", "unparseable-url", "store-unavailable",
           "scan-error", "file-type", "safesearch", "other")

MAX_LABEL_VALUES = 200
_CHILD_CACHE = 4096  # verdicts whose decisions child is kept (cleared when full)
_BOUNDS = (*LATENCY_BUCKETS, float("inf"))
OTHER = "other"

# (prefix of Verdict.reason, kind); the first match wins
_REASON_PREFIXES = (
    ("listed in ", "url-list"),
    ("exception list", "exception-list"),
    ("not listed", "not-listed"),
    ("not scanned", "not-scanned"),
    ("no lists loaded", "no-lists"),
    ("no phrase lists loaded", "no-lists"),
    ("too many requests", "rate-limit"),
    ("unparseable url", "unparseable-url"),
    ("list store unavailable", "store-unavailable"),
    ("the filter's list store is unavailable", "store-unavailable"),
    ("scan error", "scan-error"),
)


def reason_kind(verdict: Verdict) -> str:
    """One of :data:`REASONS` for a verdict: its free text never becomes a label."""
    reason = verdict.reason.lower()
    if reason.endswith("(learned)"):
        return "learned"
    for prefix, kind in _REASON_PREFIXES:
        if reason.startswith(prefix):
            return kind
    if "safesearch" in reason or "safe search" in reason:
        return "safesearch"
    if "file type" in reason or "extension" in reason or "mime type" in reason:
        return "file-type"
    if verdict.score is not None or verdict.phrases or verdict.bytes_scanned:
        return "phrases" if verdict.blocked else "clean"
    return OTHER


def use_folder(folder: Path) -> None:
    """Put ``prometheus_client`` in multiprocess mode, writing into ``folder``.

    ``prometheus_client`` reads PROMETHEUS_MULTIPROC_DIR when it is imported;
    the folder is known only once the configuration is read, so the value
    class is swapped here as well. Metrics made before this call stay in the
    process's memory only.
    """
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class _Bounded:
    """Label values of one label, capped at ``limit`` distinct ones."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        value = _label(value or "-")
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value


def _label(value: str) -> str:
    return "".join(ch if ch.isprintable() else "_" for ch in value)[:80]


def service_of(outcome: Outcome) -> str:
    method = outcome.method
    if method == "OPTIONS":
        return "options"
    return method.lower() if method in ("REQMOD", "RESPMOD") else "other"


def verdict_of(outcome: Outcome, error: str | None) -> str:
    if error:
        return "error"
    if outcome.method == "OPTIONS":
        return "options"
    if outcome.verdict is None:
        return "none"
    return outcome.verdict.action.value + ("_late" if outcome.late else "")


class Metrics:
    """The metrics one worker updates (made after :func:`use_folder`)."""

    def __init__(self) -> None:
        self.requests = Counter(
            "icapfilter_requests", "ICAP messages answered, by service and verdict.",
            ["service", "verdict"], registry=None)
        self.duration = Histogram(
            "icapfilter_request_duration_seconds",
            "Time from an ICAP message's first byte to the end of its answer.",
            ["service"], buckets=LATENCY_BUCKETS, registry=None)
        self.body_bytes = Counter(
            "icapfilter_body_bytes", "Encapsulated HTTP body bytes read from the ICAP client.",
            ["service"], registry=None)
        self.errors = Counter(
            "icapfilter_errors", "ICAP messages answered with an error, by ICAP status.",
            ["status"], registry=None)
        self.decisions = Counter(
            "icapfilter_decisions",
            "HTTP requests and responses decided, by verdict, reason, category and group.",
            ["verdict", "reason", "category", "group"], registry=None)
        self.workers = Gauge(
            "icapfilter_workers", "Worker processes running (1 per worker).",
            registry=None, multiprocess_mode="livesum")
        self._categories = _Bounded()
        self._groups = _Bounded()
        self._generation: tuple[str, str] | None = None
        self._sampled: dict[str, Gauge] = {}
        self._per_service: dict[tuple[str, str], tuple[Counter, Histogram, Counter]] = {}
        self._decided: dict[tuple[object, ...], Counter] = {}
        self._lock = threading.Lock()
        self._counts: dict[Counter, float] = {}
        self._observed: dict[Histogram, list[float]] = {}  # bucket counts, then the sum
        self._mirrored: dict[str, MetricWrapperBase] = {}
        self._last: dict[str, float] = {}
        self.workers.set(1)

    def record(self, outcome: Outcome, error: str | None) -> None:
        """Count one answered ICAP message (the server's per-message hook).

        Counts wait in plain dicts under one lock until :meth:`flush` (every
        ``[stats] interval``): each write into ``prometheus_client``'s
        memory-mapped files takes its own lock and a ``getpid()``, and five of
        them per message cost about 10 us against 2 us for this.
        """
        service = service_of(outcome)
        kind = verdict_of(outcome, error)
        per_service = self._per_service.get((service, kind))
        if per_service is None:
            per_service = self._per_service[(service, kind)] = (
                self.requests.labels(service, kind), self.duration.labels(service),
                self.body_bytes.labels(service))
        requests, duration, body_bytes = per_service
        seconds = outcome.duration_ms / 1000
        decided = None
        verdict = outcome.verdict
        if error:
            decided = self.errors.labels(str(outcome.status))
        elif verdict is not None and service != "options":
            # what reason_kind and the labels read, as plain values: a verdict
            # may hold fields that cannot be hashed
            key = (kind, verdict.reason, verdict.blocked, verdict.category, verdict.group,
                   verdict.score is not None or bool(verdict.phrases or verdict.bytes_scanned))
            decided = self._decided.get(key)
            if decided is None:
                if len(self._decided) >= _CHILD_CACHE:
                    self._decided.clear()
                decided = self._decided[key] = self.decisions.labels(
                    kind, reason_kind(verdict), self._categories(verdict.category),
                    self._groups(verdict.group))
        with self._lock:
            counts = self._counts
            counts[requests] = counts.get(requests, 0.0) + 1
            if outcome.body_bytes:
                counts[body_bytes] = counts.get(body_bytes, 0.0) + outcome.body_bytes
            if decided is not None:
                counts[decided] = counts.get(decided, 0.0) + 1
            observed = self._observed.get(duration)
            if observed is None:
                observed = self._observed[duration] = [0.0] * (len(_BOUNDS) + 1)
            observed[bisect_left(_BOUNDS, seconds)] += 1
            observed[-1] += seconds

    def flush(self) -> None:
        """Write the counts recorded since the last flush into the metric files."""
        with self._lock:
            counts, self._counts = self._counts, {}
            observed, self._observed = self._observed, {}
        for child, amount in counts.items():
            child.inc(amount)
        for histogram, buckets in observed.items():
            # what Histogram.observe does per value: one bucket (the first
            # bound >= the value; the files hold them non-cumulative) and the sum
            for index, count in enumerate(buckets[:-1]):
                if count:
                    histogram._buckets[index].inc(count)
            histogram._sum.inc(buckets[-1])

    def _gauge(self, name: str) -> Gauge:
        """A sampled gauge, made at its first value: a server that has no lists
        (or no store) shows no such series rather than a misleading 0."""
        gauge = self._sampled.get(name)
        if gauge is None:
            labels, mode, help_text = _SAMPLED[name]
            gauge = self._sampled[name] = Gauge(name, help_text, labels, registry=None,
                                                multiprocess_mode=mode)
        return gauge

    def store(self, up: bool) -> None:
        self._gauge("icapfilter_store_up").set(1 if up else 0)

    def lists(self, generation: str, lists: str | None, loaded_at: float | None,
              entries: int | None, now: float) -> None:
        """What the worker filters with, sampled every ``[stats] interval``."""
        current = (_label(generation), _label(lists or "-"))
        info = self._gauge("icapfilter_lists_generation_info")
        if current != self._generation:
            if self._generation is not None:
                info.labels(*self._generation).set(0)
            info.labels(*current).set(1)
            self._generation = current
        if loaded_at is not None:
            self._gauge("icapfilter_lists_loaded_timestamp_seconds").set(loaded_at)
            self._gauge("icapfilter_lists_age_seconds").set(max(0.0, now - loaded_at))
        if entries is not None:
            self._gauge("icapfilter_lists_entries").set(entries)

    def mirror(self, counts: dict[str, float]) -> None:
        """Carry counters and gauges kept elsewhere (connections, caches, store
        faults) into metrics: ``*_total`` names become counters, increased by
        what they grew since the last call (a counter that restarted, as after a
        reload, adds its whole value), the others gauges."""
        for name, value in counts.items():
            metric = self._mirrored.get(name)
            if metric is None:
                metric = self._mirrored[name] = _mirror_metric(name)
            if isinstance(metric, Counter):
                last = self._last.get(name, 0.0)
                grown = value - last if value >= last else value
                if grown > 0:
                    metric.inc(grown)
                self._last[name] = value
            else:
                assert isinstance(metric, Gauge)
                metric.set(value)


# name: (labels, multiprocess mode, help); the modes say how workers add up
_Mode = Literal["livemax", "livemin", "livesum"]
_SAMPLED: dict[str, tuple[tuple[str, ...], _Mode, str]] = {
    "icapfilter_lists_generation_info": (
        ("generation", "lists"), "livemax",
        "1 for the policy generation (ISTag) and URL list generation a worker filters with."),
    "icapfilter_lists_loaded_timestamp_seconds": (
        (), "livemin", "When the URL list generation in force was loaded (Unix time; "
                       "the oldest of the workers)."),
    "icapfilter_lists_age_seconds": (
        (), "livemax", "Age of the URL list generation in force at the last sample "
                       "(the oldest of the workers)."),
    "icapfilter_lists_entries": (
        (), "livemax", "Entries of the URL list generation in force."),
    "icapfilter_store_up": (
        (), "livemin", "1 when the list store (Redis or in-process) answered the last "
                       "sample, else 0 (the lowest of the workers)."),
}

_MIRROR_HELP = {
    "icapfilter_open_connections": "ICAP connections open.",
    "icapfilter_rejected_connections_total": "Connections answered 503 at once: "
                                             "max_connections reached.",
    "icapfilter_evicted_connections_total": "Idle connections closed to make room "
                                            "for new ones.",
    "icapfilter_refused_connections_total": "Connections refused by allowed_clients.",
    "icapfilter_slow_messages_cut_total": "ICAP messages cut for arriving too slowly.",
    "icapfilter_store_faults_total": "List store faults (each one applied on_error).",
    "icapfilter_unparseable_urls_total": "URLs that could not be parsed.",
    "icapfilter_url_cache_hits_total": "URL decisions answered from the decision cache.",
    "icapfilter_url_store_lookups_total": "URL decisions looked up in the list store.",
}


def _mirror_metric(name: str) -> MetricWrapperBase:
    help_text = _MIRROR_HELP.get(name, name.replace("_", " ") + ".")
    if name.endswith("_total"):
        return Counter(name[: -len("_total")], help_text, registry=None)
    return Gauge(name, help_text, registry=None, multiprocess_mode="livesum")


def sample_key(sample: Sample) -> str:
    """``name{label="value",...}``, the form ``icapfilter stats`` prints."""
    if not sample.labels:
        return sample.name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
    return f"{sample.name}{{{inner}}}"


def in_force(families: Iterable[Metric]) -> Iterable[Metric]:
    """``families`` without the generations no worker filters with any more.

    A reload sets the series of the generation it replaced to 0, but
    ``prometheus_client`` cannot delete a series from a worker's file, so
    without this every reload of a long-running server added one for good.
    """
    for family in families:
        if family.name == "icapfilter_lists_generation_info":
            family.samples = [sample for sample in family.samples if sample.value]
        yield family


def flatten(families: Iterable[object]) -> dict[str, float]:
    """Every sample of ``families`` (metric families of a collector) by key."""
    data: dict[str, float] = {}
    for family in families:
        for sample in getattr(family, "samples", ()):
            if sample.name.endswith("_created"):
                continue
            data[sample_key(sample)] = data.get(sample_key(sample), 0.0) + sample.value
    return data
