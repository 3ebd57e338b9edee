"""Process lifecycle: one worker, or N workers sharing the port, and signals.

Signals: SIGTERM/SIGINT drain in-flight transactions and exit; SIGHUP
re-reads the configuration and lists and swaps the policy without dropping
connections (a failed reload keeps the old policy); SIGUSR1 reopens logs.
With ``workers > 1`` the parent only supervises: it forwards signals and
restarts a worker that died.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..blockpage import BlockPage
from ..config import Config, ConfigError, parse_listen
from ..icap.parse import Limits
from ..icap.service import ProtocolSettings
from ..policy import Policy, PolicyHolder
from ..stats import SnapshotWriter, Stats, collect, serve_prometheus, stats_sink
from ..transfer import TransferLists
from .handler import IcapServer, Recorder
from .memory import TRIM_INTERVAL, release_free_memory

log = logging.getLogger("icapfilter.server")


@dataclass
class Built:
    """What one configuration turns into; rebuilt as a whole on reload."""

    config: Config
    policy: Policy
    blockpage: BlockPage


Builder = Callable[[Config], Built]
Loader = Callable[[], Config]


def protocol_settings(config: Config) -> ProtocolSettings:
    s = config.server
    transfer = TransferLists.from_config(s)
    return ProtocolSettings(
        limits=Limits(max_head_bytes=s.max_head_bytes),
        max_connections=s.max_connections * s.workers,
        options_ttl=s.options_ttl,
        preview=s.preview,
        transfer_preview=transfer.preview,
        transfer_ignore=transfer.ignore,
        transfer_complete=transfer.complete,
        hold_bytes=s.hold_bytes,
        reqmod_block_last_chunk_delay=s.block_end_delay_ms / 1000,
    )


def make_server(built: Built, holder: PolicyHolder, *, reuse_port: bool,
                recorder: Recorder | None = None) -> IcapServer:
    s = built.config.server
    server = IcapServer(
        parse_listen(s.listen), holder, built.blockpage, protocol_settings(built.config),
        threads=s.threads, idle_timeout=s.idle_timeout, read_timeout=s.read_timeout,
        head_timeout=s.head_timeout, message_timeout=s.message_timeout,
        min_body_rate=s.min_body_rate, send_timeout=s.send_timeout, reuse_port=reuse_port,
        allowed_clients=tuple(s.allowed_clients), recorder=recorder,
        max_connections=s.max_connections, reserved_connections=s.reserved_connections,
    )
    return server


class Worker:
    """One serving process: accept loop in a thread, signals in the main thread."""

    def __init__(self, built: Built, load: Loader, build: Builder, *, reuse_port: bool,
                 recorder_factory: Callable[[Config], Recorder | None] | None = None) -> None:
        self.built = built
        self.load = load
        self.build = build
        self.holder = PolicyHolder(built.policy)
        self.recorder_factory = recorder_factory
        self.recorder = recorder_factory(built.config) if recorder_factory else None
        self.stats = Stats(gauges=self._gauges)
        self.snapshots: SnapshotWriter | None = None
        self.server = make_server(built, self.holder, reuse_port=reuse_port,
                                  recorder=self._record)
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._reopen = threading.Event()

    def _record(self, outcome, peer, error) -> None:  # type: ignore[no-untyped-def]
        self.stats.record(outcome, peer, error)
        if self.recorder is not None:
            self.recorder(outcome, peer, error)

    def _gauges(self) -> dict[str, float]:
        gauges = getattr(self.holder.current, "gauges", None)
        data = gauges() if gauges else {}
        data["icapfilter_open_connections"] = float(self.server.manager.open_count)
        data["icapfilter_rejected_connections_total"] = float(self.server.manager.rejected)
        data["icapfilter_evicted_connections_total"] = float(self.server.manager.evictions)
        data["icapfilter_refused_connections_total"] = float(self.server.refused.total)
        data["icapfilter_slow_messages_cut_total"] = float(self.server.slow_clients.total)
        return data

    def _listen_for_reload(self, url: str) -> None:
        """`icapfilter reload` publishes on Redis, so a whole fleet reloads together."""
        from ..redisstore import listen_for_reload

        listen_for_reload(url, self._stop, self._reload.set)

    def reload(self) -> bool:
        try:
            config = self.load()
            built = self.build(config)
        except (ConfigError, OSError, ValueError) as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            return False
        if config.server != self.built.config.server:
            log.warning("[server] settings changed; they take effect after a restart")
        self.server.blockpage = built.blockpage
        self.holder.swap(built.policy)
        reopen = getattr(self.recorder, "reopen", None)
        if reopen:
            reopen()
        self.built = built
        log.info("reloaded: generation %s", built.policy.generation)
        return True

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())
        signal.signal(signal.SIGUSR1, lambda *_: self._reopen.set())
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5},
                                  name="icap-accept", daemon=True)
        thread.start()
        log.info("listening on %s (pid %d)", self.built.config.server.listen, os.getpid())
        self.snapshots = SnapshotWriter(self.stats, stats_sink(self.built.config),
                                        self.built.config.stats.interval).start()
        if self.built.config.store.redis:
            threading.Thread(target=self._listen_for_reload, args=(self.built.config.store.redis,),
                             name="icap-reload", daemon=True).start()
        next_trim = time.monotonic() + TRIM_INTERVAL
        while not self._stop.is_set():
            self._stop.wait(0.5)
            if time.monotonic() >= next_trim:
                next_trim = time.monotonic() + TRIM_INTERVAL
                release_free_memory()
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            if self._reopen.is_set():
                self._reopen.clear()
                reopen = getattr(self.recorder, "reopen", None)
                if reopen:
                    reopen()
        log.info("stopping: draining connections")
        self.server.shutdown()
        self.server.drain_and_close(self.built.config.server.drain_timeout)
        self.snapshots.stop()
        thread.join(timeout=2)
        return 0


def check_bindable(listen: str) -> None:
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind((host, port))


def serve(load: Loader, build: Builder,
          recorder_factory: Callable[[Config], Recorder | None] | None = None) -> int:
    """Run the filter until SIGTERM; returns the exit status."""
    config = load()
    built = build(config)  # fail before forking: errors are reported once
    workers = config.server.workers
    if config.server.pid_file:
        with open(config.server.pid_file, "w") as handle:
            handle.write(f"{os.getpid()}\n")
    def metrics() -> None:
        if config.stats.prometheus:
            serve_prometheus(parse_listen(config.stats.prometheus), lambda: collect(config))

    if workers == 1:
        worker = Worker(built, load, build, reuse_port=False, recorder_factory=recorder_factory)
        metrics()
        return worker.run()
    check_bindable(config.server.listen)
    return _supervise(workers, lambda: Worker(built, load, build, reuse_port=True,
                                              recorder_factory=recorder_factory).run(),
                      after_start=metrics)


def _supervise(count: int, run_worker: Callable[[], int],
               after_start: Callable[[], None] = lambda: None) -> int:
    children: dict[int, int] = {}
    stopping = False

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            # The parent's forwarding handlers must not outlive the fork: a
            # SIGTERM that reached a worker still starting (before Worker.run
            # installs its own) was swallowed, and the parent waited forever.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
            code = 1
            try:
                code = run_worker()
            finally:
                os._exit(code)
        children[pid] = slot

    def forward(sig: int, _frame: object) -> None:
        nonlocal stopping
        if sig in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM if sig == signal.SIGINT else sig)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, forward)
    for slot in range(count):
        spawn(slot)
    after_start()
    last_restart = 0.0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid not in children:
            continue
        slot = children.pop(pid)
        if stopping:
            continue
        log.error("worker %d exited (status %d); restarting it", pid, status)
        if time.monotonic() - last_restart < 1.0:
            time.sleep(1.0)
        last_restart = time.monotonic()
        spawn(slot)
    return 0
