"""``icapfilter reload``: make running servers reload, and say how it went.

SIGHUP goes to the pid in the pid file (or, with a Redis store, a PUBLISH
reaches every server of the fleet); then the command waits for each local
worker to rewrite its status file and prints the outcome: the new list
generation and counts, or the error and that the old lists are still in force.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

import click

from icapfilter.config import Config, ConfigError, load_config
from icapfilter.runstate import status as run_status
from icapfilter.runstate.paths import find_pid_file, status_dir, where_pid_files_go
from icapfilter.startup_summary import Loaded, what_is_loaded


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"icapfilter reload: {message}", err=True)
    sys.exit(code)


def _read_pid(path: Path) -> int:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError) as exc:
        _fail(f"cannot read the pid in {path}: {exc}")
    if pid <= 1:  # kill(0) and kill(-1) signal whole groups; 1 is init
        _fail(f"{path} holds {pid}, not the pid of a server")
    return pid


def _signal(pid: int, path: Path) -> None:
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        _fail(f"no server running with pid {pid} (stale pid file {path}): start it "
              "with `icapfilter serve`")
    except PermissionError:
        _fail(f"not allowed to signal pid {pid} (from {path}): run as the server's user "
              "or root")


Outcomes = tuple[dict[int, run_status.WorkerStatus], list[int], list[int]]


def wait_for_outcomes(folder: Path, before: dict[int, run_status.WorkerStatus],
                      timeout: float) -> Outcomes:
    """Each worker's new status once it has reloaded; the pids still silent at
    the deadline; the pids that exited without an outcome."""
    deadline = time.monotonic() + timeout
    done: dict[int, run_status.WorkerStatus] = {}
    while True:
        now = run_status.read_all(folder)
        for pid, old in before.items():
            new = now.get(pid)
            if new is not None and new.reloads > old.reloads:
                done[pid] = new
        silent = [pid for pid in before if pid not in done]
        pending = [pid for pid in silent if run_status.alive(pid)]
        if not pending or time.monotonic() >= deadline:
            return done, pending, [pid for pid in silent if pid not in pending]
        time.sleep(0.1)


def report(done: dict[int, run_status.WorkerStatus], pending: list[int],
           timeout: float, gone: list[int] | None = None) -> bool:
    """Print the outcome; True when every worker reloaded."""
    failed = {pid: s for pid, s in done.items() if not s.ok}
    good = {pid: s for pid, s in done.items() if s.ok}
    if good:
        pids = ", ".join(map(str, sorted(good)))
        click.echo(f"reloaded: {len(good)} worker{'s' if len(good) > 1 else ''} (pid {pids})")
        first = next(iter(good.values()))
        for line in what_is_loaded(Loaded.from_dict(first.loaded)):
            click.echo(f"  {line}")
        if first.restart:
            click.echo(f"  changed, but in force only after a restart: {', '.join(first.restart)}")
    for error in sorted({s.error for s in failed.values()}):
        pids = ", ".join(str(p) for p, s in sorted(failed.items()) if s.error == error)
        click.echo(f"reload FAILED (pid {pids}): {error}", err=True)
        loaded = Loaded.from_dict(next(s for s in failed.values() if s.error == error).loaded)
        click.echo("old lists still in force:", err=True)
        for line in what_is_loaded(loaded):
            click.echo(f"  {line}", err=True)
    for pid in pending:
        click.echo(f"no outcome from worker {pid} within {timeout:g} s (still loading? see "
                   "its error log; --timeout waits longer)", err=True)
    for pid in gone or ():
        click.echo(f"worker {pid} exited before it reported an outcome (a multi-worker "
                   "server starts a replacement, which reads the configuration as it is "
                   "now): see the error log", err=True)
    return bool(done) and not failed and not pending and not gone


@click.command("reload")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file of the servers to reload.")
@click.option("--pid-file", type=click.Path(dir_okay=False),
              help="Signal this pid (default: [server] pid_file, else the run folder's "
                   "icapfilter-PORT.pid).")
@click.option("--timeout", type=float, default=120.0, show_default=True,
              help="Seconds to wait for every worker's outcome.")
def reload(config_path: str | None, pid_file: str | None, timeout: float) -> None:
    """Tell running servers to re-read configuration and lists, and reopen logs.

    Waits for every worker of this machine's server and prints the new list
    generation and counts, or the error (the old lists stay in force). With a
    Redis store every server of the fleet is told through Redis (PUBLISH).
    Exit 0 when every worker reloaded, 1 when one failed or did not answer,
    2 on a bad configuration or when no server is found.
    """
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        _fail(f"configuration error: {exc}", 2)
    path = Path(pid_file) if pid_file else find_pid_file(cfg)
    folder = status_dir(path) if path else None
    before = run_status.read_all(folder) if folder else {}
    if cfg.store.redis and not pid_file:
        _publish(cfg)
    elif path is None or not path.exists():
        _fail(f"no pid file at {pid_file or where_pid_files_go(cfg)}: is the server running "
              "(`icapfilter serve --config FILE`)? Else give --pid-file or set "
              "[server] pid_file", 2)
    else:
        pid = _read_pid(path)
        _signal(pid, path)
        if not before:
            click.echo(f"SIGHUP sent to {pid}; it reports no outcome (no status files in "
                       f"{folder}): see its error log")
            return
    if not before:
        return
    done, pending, gone = wait_for_outcomes(folder, before, timeout) if folder else ({}, [], [])
    sys.exit(0 if report(done, pending, timeout, gone) else 1)


def _publish(cfg: Config) -> None:
    from icapfilter.redisstore import publish_reload

    try:
        told = publish_reload(cfg.store.redis)
    except Exception as exc:  # noqa: BLE001 - Redis down is a plain failure
        _fail(f"cannot reach Redis ([store] redis): {exc}")
    click.echo(f"reload sent to {told} worker(s) through Redis")
    if not told:
        sys.exit(1)
