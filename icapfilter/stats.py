"""Where the metrics live, how they are summed, and the ``/metrics`` endpoint.

Every worker counts into :class:`~icapfilter.metrics.Metrics`, whose values
``prometheus_client`` keeps in memory-mapped files of one private folder
(``[stats] dir``). ``/metrics`` and ``icapfilter stats`` read that folder, so
they sum every worker of the server without asking any of them. With a Redis
store each worker also copies its own values to Redis every ``[stats]
interval`` seconds (one expiring hash per worker), so ``icapfilter stats``
sums every server of a fleet. Nothing here sits on the request path beyond
a few dict updates under one lock (:meth:`~icapfilter.metrics.Metrics.record`).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from .metrics import Metrics, flatten, in_force, use_folder
from .outcome import Outcome
from .runstate.status import alive

log = logging.getLogger("icapfilter.stats")

SNAPSHOT_TTL = 30  # seconds a worker's snapshot in Redis counts after its last write
STOP_WAIT = 5.0  # seconds stopping waits for a snapshot being written (Redis times out first)
_DB_FILE = re.compile(r"^[a-z]+(?:_[a-z]+)?_(\d+)\.db$")

_folder: Path | None = None  # the folder this server's processes write into


#: Run folders the service's user and root share (systemd's RuntimeDirectory=,
#: the one FreeBSD's rc.d script makes), used when this user may write there.
RUN_DIRS = (Path("/run/icapfilter"), Path("/var/run/icapfilter"))


def default_dir() -> Path:
    """The first run folder this user may write (so root's ``stats`` reads the
    service user's files), else a folder of this user's own in the temp dir:
    under one shared name the first user's server would own it, and another
    user's ``stats`` would read that server."""
    for run in RUN_DIRS:
        if run.is_dir() and os.access(run, os.W_OK):
            return run
    return Path(tempfile.gettempdir()) / f"icapfilter-stats-{os.geteuid()}"


def folder_of(config: Any) -> Path:
    return Path(config.stats.dir) if config.stats.dir else default_dir()


class UnsafeStatsDir(Exception):
    """A stats folder another user could write into: metrics are not kept there."""


def private_dir(folder: Path) -> Path:
    """``folder``, created 0700 when missing, if only we (or root) can write into it.

    The default folder lives in the shared temp dir, where any local user can
    create it first and plant symbolic links for our writes to follow
    (``prometheus_client`` opens its files by name, following links).
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


def _files(folder: Path, keep: Callable[[int], bool]) -> list[str]:
    """The metric files of ``folder`` whose process id passes ``keep``; links skipped."""
    found = []
    for entry in os.scandir(folder):
        match = _DB_FILE.match(entry.name)
        if match and not entry.is_symlink() and keep(int(match.group(1))):
            found.append(entry.path)
    return sorted(found)


def prepare(config: Any) -> Path:
    """Choose and clean the metrics folder, and switch ``prometheus_client`` to it.

    Called by the server before it forks its workers. Files of processes that
    no longer run (an earlier server) are removed: their counters would add to
    this run's. An unsafe or unusable folder is replaced by a new private
    temporary one (one ERROR line): counting is not worth refusing to filter,
    and ``serve`` refuses a configured unsafe ``[stats] dir`` before it starts
    (commands/preflight.py).
    """
    global _folder
    folder = folder_of(config)
    try:
        private_dir(folder)
        for path in _files(folder, lambda pid: not alive(pid)):
            os.unlink(path)
    except (UnsafeStatsDir, OSError) as exc:
        folder = Path(tempfile.mkdtemp(prefix="icapfilter-metrics-"))
        log.error("stats folder not used: %s; metrics are kept in %s, which `icapfilter "
                  "stats` does not read; set [stats] dir to a folder only this user can "
                  "write", exc, folder)
    use_folder(folder)
    _folder = folder
    return folder


def metrics_folder() -> Path | None:
    """The folder :func:`prepare` chose in this process (or its parent)."""
    return _folder


def forget_worker(pid: int) -> None:
    """A worker exited: its live gauges (open connections, workers) no longer count."""
    if _folder is not None:
        mark_process_dead(pid, str(_folder))  # type: ignore[no-untyped-call]


def _merged(files: list[str]) -> dict[str, float]:
    """The samples of ``files`` summed as ``/metrics`` sums them (cumulative buckets)."""
    return flatten(in_force(MultiProcessCollector.merge(files, accumulate=True)))  # type: ignore[no-untyped-call]


class Stats:
    """One worker's metrics; ``record`` is the server's per-message hook."""

    def __init__(self, gauges: Callable[[], dict[str, float]] | None = None,
                 policy: Callable[[], object] | None = None) -> None:
        self.metrics = Metrics()
        self._gauges = gauges
        self._policy = policy

    def record(self, outcome: Outcome, peer: tuple[object, ...], error: str | None) -> None:
        self.metrics.record(outcome, error)

    def sample(self) -> None:
        """Update what is sampled rather than counted: connection counts,
        engine counters, the lists in force and whether the store answers."""
        try:
            self.metrics.flush()
            if self._gauges is not None:
                self.metrics.mirror(self._gauges())
            if self._policy is not None:
                self._sample_lists(self._policy())
        except Exception:  # noqa: BLE001 - statistics must never break serving
            log.debug("metrics sample failed", exc_info=True)

    def _sample_lists(self, policy: object) -> None:
        generation = str(getattr(policy, "generation", "-"))
        engine = getattr(getattr(policy, "urls", None), "engine", None)
        info = None
        if engine is not None:
            try:
                info = engine.store.info()
                self.metrics.store(up=True)
            except Exception:  # noqa: BLE001 - a store fault is what this gauge shows
                self.metrics.store(up=False)
        self.metrics.lists(generation, info.generation if info else None,
                           info.loaded_at if info else None,
                           info.entries if info else None, time.time())

    def snapshot(self) -> dict[str, float]:
        """This process's own values (for the Redis copy), summed like /metrics."""
        if _folder is None:
            return {}
        pid = os.getpid()
        return _merged(_files(_folder, lambda p: p == pid))


class SnapshotWriter:
    """Samples this worker's gauges every ``interval`` seconds, in a thread, and
    hands its values to ``sink`` (Redis; nothing without Redis)."""

    def __init__(self, stats: Stats, sink: Callable[[str, dict[str, float]], None],
                 interval: float = 5.0) -> None:
        self.stats = stats
        self.sink = sink
        self.interval = interval
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="icap-stats", daemon=True)

    def start(self) -> SnapshotWriter:
        self.stats.sample()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        self.stats.sample()
        if self.sink is _no_sink:
            return
        try:
            self.sink(self.name, self.stats.snapshot())
        except Exception as exc:  # noqa: BLE001 - a stats sink failure is not fatal
            log.debug("stats snapshot not written: %s", exc)

    def stop(self) -> None:
        """Stop the thread, then write once more: a flush of the thread still
        running beside this one would add the mirrored counters' growth twice."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_WAIT)
        self.flush()


def _no_sink(name: str, data: dict[str, float]) -> None:
    pass


def stats_sink(config: Any) -> Callable[[str, dict[str, float]], None]:
    """Redis when the list store is Redis (the whole fleet); else nothing, as
    the metric files are the snapshot."""
    if config.store.redis:
        from .redisstore import stats_sink as redis_sink

        return redis_sink(config.store.redis, SNAPSHOT_TTL)
    return _no_sink


def collect_folder(folder: Path) -> tuple[int, dict[str, float]]:
    """Running workers and their values summed, from the files of ``folder``
    written by processes still running."""
    if not folder.is_dir() or folder.is_symlink():
        return 0, {}
    data = _merged(_files(folder, alive))
    return int(data.get("icapfilter_workers", 0)), data


def collect(config: Any) -> tuple[int, dict[str, float]]:
    """What ``icapfilter stats`` prints: Redis (every server) or the folder (this one)."""
    if config.store.redis:
        from .redisstore import collect_stats

        return collect_stats(config.store.redis)
    return collect_folder(folder_of(config))


class _FolderCollector(Collector):
    """The metric files of one folder as ``/metrics`` shows them (links skipped)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def collect(self) -> Iterable[Metric]:
        files = _files(self.folder, lambda pid: True)
        return in_force(MultiProcessCollector.merge(files, accumulate=True))  # type: ignore[no-untyped-call]


def exposition(folder: Path) -> bytes:
    """The Prometheus text of every worker writing into ``folder``."""
    registry = CollectorRegistry()
    registry.register(_FolderCollector(folder))
    return generate_latest(registry)


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


def serve_prometheus(listen: tuple[str, int], folder: Path | None,
                     timeout: float = METRICS_TIMEOUT,
                     max_connections: int = METRICS_CONNECTIONS) -> MetricsServer:
    """A /metrics endpoint on its own port, serving this server's workers."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            where = folder or _folder
            try:
                if where is None:
                    raise OSError("no metrics folder")
                body = exposition(where)
            except Exception as exc:  # noqa: BLE001 - a scrape must not kill the thread
                log.warning("metrics not collected: %s", exc)
                self.send_error(503, "statistics unavailable")
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    Handler.timeout = timeout
    server = MetricsServer(listen, Handler, max_connections)
    threading.Thread(target=server.serve_forever, name="icap-metrics", daemon=True).start()
    return server
