"""``lists status`` for an in-process store: ask the running server what it loaded.

The lists live inside the server's workers; each worker's status file
(icapfilter.runstate.status) says what it has in force.
"""

from __future__ import annotations

import sys

import click

from icapfilter.config import ConfigError, load_config
from icapfilter.runstate import status as run_status
from icapfilter.runstate.paths import find_pid_file, status_dir, where_pid_files_go
from icapfilter.startup_summary import Loaded, age, phrases_line


def print_server_lists(config_path: str | None) -> None:
    """Print what the server of ``config_path`` has loaded; exit 1 when none runs."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    pid_file = find_pid_file(config)
    workers = run_status.read_all(status_dir(pid_file)) if pid_file else {}
    if not workers:
        hint = "" if config_path else " (or give --redis URL for a shared store, --config " \
            "FILE for the server of that configuration)"
        click.echo(f"error: no running server found (pid file {where_pid_files_go(config)}): "
                   f"start it with `icapfilter serve --config FILE`{hint}", err=True)
        sys.exit(1)
    pid, status = sorted(workers.items())[0]
    loaded = Loaded.from_dict(status.loaded)
    click.echo(f"server:     pid {pid} ({len(workers)} worker(s)), in-process store, "
               f"configuration {status.config}")
    info = loaded.lists
    if info is None:
        click.echo(f"URL lists:  none ({loaded.lists_error or 'no [lists] paths configured'})")
    else:
        click.echo(f"generation: {info['generation']}")
        click.echo(f"loaded at:  {age(info['loaded_at'])} ({info['duration']:.1f}s)")
        click.echo(f"entries:    {info['entries']} (exceptions {info['exceptions']}, "
                   f"skipped lines {info['errors']})")
        click.echo(f"sources:    {', '.join(info['sources'])}")
        exceptions = set(info.get("exception_categories", []))
        for name, count in info["counts"].items():
            click.echo(f"  {name}{' (exception)' if name in exceptions else ''}: {count}")
    click.echo(phrases_line(loaded))
    generations = {(s.loaded.get("lists") or {}).get("generation") for s in workers.values()}
    if len(generations) > 1:
        click.echo(f"note: the workers hold different generations: "
                   f"{', '.join(sorted(str(g) for g in generations))}")
    if info is None:
        sys.exit(1)
