"""Process lifecycle: one worker, or N workers sharing the port, and signals.

Signals: SIGTERM/SIGINT drain in-flight transactions and exit; SIGHUP
re-reads the configuration and lists and swaps the policy without dropping
connections (a failed reload keeps the old policy); SIGUSR1 reopens logs.
With ``workers > 1`` the parent only supervises: it forwards signals and
restarts a worker that died.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..blockpage import BlockPage
from ..config import Config, ConfigError, parse_listen
from ..icap.parse import Limits
from ..icap.service import ProtocolSettings
from ..outcome import Outcome
from ..policy import Policy, PolicyHolder
from ..runstate import status as run_status
from ..runstate.changes import restart_keys
from ..runstate.paths import server_pid_file, status_dir
from ..startup_summary import describe, log_startup, source_name
from ..stats import SnapshotWriter, Stats, forget_worker, serve_prometheus, stats_sink
from ..stats import prepare as prepare_metrics
from ..transfer import TransferLists
from .handler import Address, IcapServer, Recorder
from .memory import TRIM_INTERVAL, limit_malloc_arenas, release_free_memory

log = logging.getLogger("icapfilter.server")


@dataclass
class Built:
    """What one configuration turns into; rebuilt as a whole on reload."""

    config: Config
    policy: Policy
    blockpage: BlockPage


Builder = Callable[[Config], Built]
Loader = Callable[[], Config]
LogSetup = Callable[[Config], None]


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
                 recorder_factory: Callable[[Config], Recorder | None] | None = None,
                 setup_logging: LogSetup | None = None,
                 status_folder: Path | None = None) -> None:
        self.built = built
        # what the processes were started with: [server] changes wait for a restart
        self.running = built.config
        self.setup_logging = setup_logging
        self.status_folder = status_folder
        self.status = run_status.WorkerStatus(pid=0, started=time.time(),
                                              config=built.config.source)
        self.load = load
        self.build = build
        self.holder = PolicyHolder(built.policy)
        self.recorder_factory = recorder_factory
        self.recorder = recorder_factory(built.config) if recorder_factory else None
        self.stats = Stats(gauges=self._gauges, policy=lambda: self.holder.current)
        self.snapshots: SnapshotWriter | None = None
        self.server = make_server(built, self.holder, reuse_port=reuse_port,
                                  recorder=self._record)
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._reopen = threading.Event()

    def _record(self, outcome: Outcome, peer: Address, error: str | None) -> None:
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
        """Build the new configuration beside the running one and swap it in;
        on any failure the old one stays in force. The outcome goes to the
        log and to this worker's status file, where ``icapfilter reload`` waits."""
        old = self.built.config
        recorder = self.recorder
        try:
            config = self.load()
            built = self.build(config)
            recorder = self._new_recorder(old, config)
            if config.log != old.log and self.setup_logging is not None:
                self.setup_logging(config)
        except Exception as exc:  # noqa: BLE001 - a reload must never end the worker
            expected = isinstance(exc, ConfigError | OSError | ValueError)
            log.error("reload failed, keeping the running configuration "
                      "(old lists still in force): %s", exc, exc_info=not expected)
            if recorder is not self.recorder:
                close = getattr(recorder, "close", None)
                if close:
                    close()
            self._report(ok=False, error=str(exc) if expected else f"internal error: {exc!r}")
            return False
        restart = restart_keys(self.running, config)
        if restart:
            log.warning("changed, but they take effect only after a restart: %s",
                        ", ".join(restart))
        self.server.blockpage = built.blockpage
        self.holder.swap(built.policy)
        previous = self.recorder
        if recorder is not previous:
            self.recorder = recorder
            close = getattr(previous, "close", None)
            if close:
                close()
        else:
            reopen = getattr(self.recorder, "reopen", None)
            if reopen:
                reopen()
        self.built = built
        if config.stats != old.stats and self.snapshots is not None:
            self.snapshots.stop()
            self._start_snapshots()
        log.info("reloaded: generation %s", built.policy.generation)
        self._report(ok=True, restart=restart)
        return True

    def _new_recorder(self, old: Config, new: Config) -> Recorder | None:
        """The access log of the new [log] settings (the same one when they did not change)."""
        if new.log == old.log or self.recorder_factory is None:
            return self.recorder
        return self.recorder_factory(new)

    def _start_snapshots(self) -> None:
        config = self.built.config
        self.snapshots = SnapshotWriter(self.stats, stats_sink(config),
                                        config.stats.interval).start()

    def _report(self, *, ok: bool, error: str = "", restart: list[str] | None = None,
                reloaded: bool = True) -> None:
        """Rewrite this worker's status file (nothing to do without a status folder)."""
        if self.status_folder is None:
            return
        status = self.status
        status.pid = os.getpid()
        status.reloads += 1 if reloaded else 0
        status.ok, status.error, status.at = ok, error, time.time()
        status.restart = restart or []
        status.config = source_name(self.built.config)
        status.loaded = describe(self.built.config, self.built.policy).as_dict()
        try:
            run_status.write(self.status_folder, status)
        except OSError as exc:
            log.warning("status file not written in %s: %s", self.status_folder, exc)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())
        signal.signal(signal.SIGUSR1, lambda *_: self._reopen.set())
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5},
                                  name="icap-accept", daemon=True)
        thread.start()
        log.info("listening on %s (pid %d)", self.built.config.server.listen, os.getpid())
        self._start_snapshots()
        self._report(ok=True, reloaded=False)
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
        if self.snapshots is not None:
            self.snapshots.stop()
        if self.status_folder is not None:
            run_status.remove(self.status_folder, os.getpid())
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
          recorder_factory: Callable[[Config], Recorder | None] | None = None,
          setup_logging: LogSetup | None = None) -> int:
    """Run the filter until SIGTERM; returns the exit status."""
    # Until Worker.run or _supervise handle them, SIGHUP and SIGUSR1 would end
    # the process (their default), and loading large lists takes a while:
    # logrotate's SIGUSR1 to the whole unit must not stop a server starting up.
    for sig in (signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)
    limit_malloc_arenas()  # before any thread: the workers inherit it
    config = load()
    built = build(config)  # fail before forking: errors are reported once
    workers = config.server.workers
    pid_file = server_pid_file(config)
    folder = status_dir(pid_file)
    other = run_status.other_server(pid_file, folder)
    if other is not None:  # with SO_REUSEPORT both would serve the port, unnoticed
        raise OSError(f"another server (pid {other}) runs with {pid_file}: stop it, or give "
                      "this one another [server] listen port or pid_file")
    try:
        pid_file.write_text(f"{os.getpid()}\n")
        run_status.prepare(folder)
    except OSError as exc:
        where = "[server] pid_file" if config.server.pid_file else "the default pid file"
        raise OSError(f"{where}: cannot write {pid_file}: {exc.strerror or exc} "
                      "(set [server] pid_file to a writable path)") from None
    log_startup(config, describe(config, built.policy), str(pid_file))

    metrics_dir = prepare_metrics(config)  # before the workers fork: they inherit it

    def metrics() -> None:
        if config.stats.prometheus:
            serve_prometheus(parse_listen(config.stats.prometheus), metrics_dir)

    def worker(reuse_port: bool, restarted: bool = False) -> Worker:
        made = Worker(built, load, build, reuse_port=reuse_port,
                      recorder_factory=recorder_factory, setup_logging=setup_logging,
                      status_folder=folder)
        if restarted:
            # The others may have reloaded since start: a replacement serves
            # what the configuration says now, not what the parent built then.
            made.reload()
        return made

    try:
        if workers == 1:
            single = worker(reuse_port=False)
            metrics()
            return single.run()
        check_bindable(config.server.listen)
        gc.freeze()  # the workers' collections leave the inherited objects' pages shared
        return _supervise(workers, lambda restarted: worker(True, restarted).run(),
                          after_start=metrics,
                          on_exit=lambda pid: run_status.remove(folder, pid))
    finally:
        _remove_pid_file(pid_file)
        try:
            folder.rmdir()  # when the last worker removed its status file
        except OSError:
            pass


def _remove_pid_file(path: Path) -> None:
    """Remove the pid file if it still names this process (a new server may own it)."""
    try:
        if path.read_text().split()[0] == str(os.getpid()):
            path.unlink()
    except (OSError, IndexError):
        pass


def _supervise(count: int, run_worker: Callable[[bool], int],
               after_start: Callable[[], None] = lambda: None,
               on_exit: Callable[[int], None] = lambda pid: None) -> int:
    """Run ``count`` forked workers until SIGTERM, restarting the ones that die.

    ``on_exit`` gets each exited worker's pid: a worker that crashed leaves a
    status file a later process with its pid would be taken for.
    """
    children: dict[int, int] = {}
    stopping = False

    def spawn(slot: int, restarted: bool = False) -> None:
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
                code = run_worker(restarted)
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
        forget_worker(pid)
        on_exit(pid)
        if stopping:
            continue
        log.error("worker %d exited (status %d); restarting it", pid, status)
        if time.monotonic() - last_restart < 1.0:
            time.sleep(1.0)
        last_restart = time.monotonic()
        spawn(slot, restarted=True)
    return 0
