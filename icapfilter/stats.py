"""Counters and latency histograms, summed over workers and servers.

Each worker counts in memory (one lock, a dict of integers) and writes a
snapshot every few seconds: to Redis when the list store is Redis (one hash
per worker, expiring, so every server of a fleet is included), else to a
JSON file per worker in the stats folder. ``icapfilter stats`` and the
optional Prometheus endpoint add the live snapshots up. Nothing here sits on
the request path beyond one dictionary update under a lock.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import stat
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .outcome import Outcome

log = logging.getLogger("icapfilter.stats")

LATENCY_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
SNAPSHOT_TTL = 30  # seconds a worker's snapshot counts after its last write


def default_dir() -> Path:
    run = Path("/run/icapfilter")
    if run.is_dir() and os.access(run, os.W_OK):
        return run
    return Path(tempfile.gettempdir()) / "icapfilter-stats"


def _key(name: str, **labels: str) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}" if inner else name


@functools.lru_cache(maxsize=4096)
def _outcome_keys(service: str, kind: str, bucket: str) -> tuple[str, str, str, str]:
    """The four counter names every decision touches: built once per combination,
    as formatting them per decision showed in the warm benchmark's profile."""
    return (
        _key("icapfilter_requests_total", service=service, verdict=kind),
        _key("icapfilter_latency_ms_bucket", service=service, le=bucket),
        _key("icapfilter_latency_ms_sum", service=service),
        _key("icapfilter_body_bytes_total", service=service),
    )


class Stats:
    """One worker's counters; ``record`` is the server's per-decision hook."""

    def __init__(self, gauges: Callable[[], dict[str, float]] | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, float] = defaultdict(float)
        self._gauges = gauges

    def record(self, outcome: Outcome, peer: tuple[object, ...], error: str | None) -> None:
        if outcome.method == "OPTIONS":
            service = "options"
        elif outcome.method in ("REQMOD", "RESPMOD"):
            service = outcome.method.lower()
        else:
            service = "other"
        verdict = outcome.verdict
        if error:
            kind = "error"
        elif outcome.method == "OPTIONS":
            kind = "options"
        elif verdict is None:
            kind = "none"
        else:
            kind = verdict.action.value + ("_late" if outcome.late else "")
        elapsed = outcome.duration_ms
        bucket = next((b for b in LATENCY_BUCKETS_MS if elapsed <= b), "+Inf")
        requests, latency_bucket, latency_sum, body_bytes = _outcome_keys(
            service, kind, str(bucket))
        with self._lock:
            c = self._counts
            c[requests] += 1
            c[latency_bucket] += 1
            c[latency_sum] += int(elapsed * 1000) / 1000
            c[body_bytes] += outcome.body_bytes
            if error:
                c[_key("icapfilter_errors_total", status=str(outcome.status))] += 1
            if verdict is not None and verdict.blocked:
                c[_key("icapfilter_blocked_total", category=_label(verdict.category or "-"),
                       group=_label(verdict.group))] += 1

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            data = dict(self._counts)
        if self._gauges is not None:
            try:
                data.update(self._gauges())
            except Exception:  # noqa: BLE001 - stats must never break serving
                log.debug("gauges failed", exc_info=True)
        return data


def _label(value: str) -> str:
    return "".join(ch if ch.isprintable() and ch not in '"\\' else "_" for ch in value)[:80]


def cumulative_buckets(data: dict[str, float]) -> dict[str, float]:
    """Prometheus histogram buckets are cumulative; ours are counted per bucket."""
    out = {k: v for k, v in data.items() if "_latency_ms_bucket" not in k}
    per_service: dict[str, dict[str, float]] = {}
    for key, value in data.items():
        if "_latency_ms_bucket" in key:
            service = key.split('service="', 1)[1].split('"', 1)[0]
            le = key.split('le="', 1)[1].split('"', 1)[0]
            per_service.setdefault(service, {})[le] = value
    for service, buckets in per_service.items():
        running = 0.0
        for le in [*map(str, LATENCY_BUCKETS_MS), "+Inf"]:
            running += buckets.get(le, 0)
            out[_key("icapfilter_latency_ms_bucket", service=service, le=le)] = running
        out[_key("icapfilter_latency_ms_count", service=service)] = running
    return out


class SnapshotWriter:
    """Writes this worker's snapshot every ``interval`` seconds, in a thread."""

    def __init__(self, stats: Stats, sink: Callable[[str, dict[str, float]], None],
                 interval: float = 5.0) -> None:
        self.stats = stats
        self.sink = sink
        self.interval = interval
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="icap-stats", daemon=True)

    def start(self) -> SnapshotWriter:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        try:
            self.sink(self.name, self.stats.snapshot())
        except Exception as exc:  # noqa: BLE001 - a stats sink failure is not fatal
            log.debug("stats snapshot not written: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self.flush()


class UnsafeStatsDir(Exception):
    """A stats folder another user could write into: snapshots are not written there."""


def private_dir(folder: Path) -> Path:
    """``folder``, created 0700 when missing, if only we (or root) can write into it.

    The default folder lives in the shared temp dir, where any local user can
    create it first and plant symbolic links for our writes to follow.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    check_private_dir(folder)
    return folder


def check_private_dir(folder: Path) -> None:
    """Raise :class:`UnsafeStatsDir` unless ``folder`` is a real directory that
    only we (or root) can write into."""
    st = os.lstat(folder)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeStatsDir(f"{folder} is a symbolic link")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeStatsDir(f"{folder} is not a directory")
    if st.st_uid not in (os.geteuid(), 0):
        raise UnsafeStatsDir(f"{folder} is owned by uid {st.st_uid}, not by this "
                             f"user (uid {os.geteuid()})")
    if st.st_mode & 0o022:
        raise UnsafeStatsDir(f"{folder} is writable by group or others "
                             f"(mode {stat.S_IMODE(st.st_mode):04o})")


def _file_name(name: str) -> str:
    return "stats-" + "".join(ch if ch.isalnum() or ch in "._" else "-" for ch in name)


def file_sink(folder: Path) -> Callable[[str, dict[str, float]], None]:
    """Snapshots as JSON files in ``folder`` (checked by :func:`private_dir`).

    Written through a descriptor of the folder, never following a symbolic
    link: the temporary file is created exclusively, then renamed over the
    snapshot (a rename replaces a link, it does not write through it).
    """
    private_dir(folder)

    def write(name: str, data: dict[str, float]) -> None:
        base = _file_name(name)
        tmp, final = base + ".tmp", base + ".json"
        payload = json.dumps({"time": time.time(), "data": data}).encode()
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            try:  # our own leftover after a crash, or something planted: never written through
                os.unlink(tmp, dir_fd=dfd)
            except FileNotFoundError:
                pass
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=dfd)
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            os.replace(tmp, final, src_dir_fd=dfd, dst_dir_fd=dfd)
        finally:
            os.close(dfd)

    return write


def _no_sink(name: str, data: dict[str, float]) -> None:
    pass


def collect_files(folder: Path) -> tuple[int, dict[str, float]]:
    """Sum the snapshots written in the last SNAPSHOT_TTL seconds."""
    total: Counter[str] = Counter()
    count = 0
    now = time.time()
    for path in sorted(folder.glob("stats-*.json")):
        if path.is_symlink():
            continue
        try:
            snap = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if now - snap.get("time", 0) > SNAPSHOT_TTL:
            continue
        count += 1
        total.update(snap.get("data", {}))
    return count, dict(total)


def prometheus_text(data: dict[str, float]) -> str:
    lines = []
    cumulative = cumulative_buckets(data)
    for key in sorted(cumulative):
        lines.append(f"{key} {cumulative[key]:g}")
    return "\n".join(lines) + "\n"


METRICS_TIMEOUT = 10.0  # seconds a metrics connection may stay silent
METRICS_CONNECTIONS = 16  # metrics connections served at once; more are closed at once


class MetricsServer(ThreadingHTTPServer):
    """A thread per connection, but at most ``max_connections`` of them, each
    with a socket timeout: idle or trickling clients cannot pile up threads."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, listen: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 max_connections: int = METRICS_CONNECTIONS) -> None:
        self.address_family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0
        super().__init__(listen, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def serve_prometheus(listen: tuple[str, int],
                     collect: Callable[[], tuple[int, dict[str, float]]],
                     timeout: float = METRICS_TIMEOUT,
                     max_connections: int = METRICS_CONNECTIONS) -> MetricsServer:
    """A /metrics endpoint on its own port, serving the fleet-wide sums."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            try:
                workers, data = collect()
            except Exception as exc:  # noqa: BLE001 - the store being down is a 503
                log.warning("metrics not collected: %s", exc)
                self.send_error(503, "statistics unavailable")
                return
            data["icapfilter_workers_reporting"] = workers
            body = prometheus_text(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    Handler.timeout = timeout
    server = MetricsServer(listen, Handler, max_connections)
    threading.Thread(target=server.serve_forever, name="icap-metrics", daemon=True).start()
    return server


def folder_of(config: Any) -> Path:
    return Path(config.stats.dir) if config.stats.dir else default_dir()


def stats_sink(config: Any) -> Callable[[str, dict[str, float]], None]:
    """Redis when the list store is Redis (the whole fleet), else files.

    A stats folder that is unsafe or cannot be created disables the file
    snapshots (one ERROR line) rather than stopping the worker: counting is
    not worth refusing to filter. ``serve`` refuses a configured unsafe
    ``[stats] dir`` before it starts (commands/preflight.py).
    """
    if config.store.redis:
        from .redisstore import stats_sink as redis_sink

        return redis_sink(config.store.redis, SNAPSHOT_TTL)
    folder = folder_of(config)
    try:
        return file_sink(folder)
    except (UnsafeStatsDir, OSError) as exc:
        log.error("stats snapshots disabled: %s; set [stats] dir to a folder only this "
                  "user can write", exc)
        return _no_sink


def collect(config: Any) -> tuple[int, dict[str, float]]:
    if config.store.redis:
        from .redisstore import collect_stats

        return collect_stats(config.store.redis)
    return collect_files(folder_of(config))
