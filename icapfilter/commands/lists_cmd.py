"""``icapfilter lists load|status``: put blacklists into the store and inspect it."""

from __future__ import annotations

import sys
import time

import click

from icapfilter.urls.errors import LoadError, StoreUnavailable
from icapfilter.urls.loader import load_lists
from icapfilter.urls.model import Progress
from icapfilter.urls.store import ListStore, MemoryStore, RedisStore

REDIS_HELP = "Redis URL of the shared list store (e.g. redis://127.0.0.1:6379/0)."


def _tty_progress() -> Progress | None:
    """A one-line status on a terminal; nothing when piped (cron, systemd)."""
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def show(stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2 and (total is None or done < total):
            return
        last[0] = now
        amount = f"{done}/{total}" if total else str(done)
        click.echo(f"\r{stage}: {amount} entries   ", nl=False, err=True)

    return show


@click.group("lists")
def lists() -> None:
    """Load URL/domain blacklists and show what is loaded."""


@lists.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--redis", "redis_url", metavar="URL", help=REDIS_HELP)
@click.option("--prefix", default="icapfilter:bl", show_default=True, help="Redis key prefix.")
@click.option("--strict", is_flag=True, help="Refuse the whole load if any line is bad.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def load_cmd(
    paths: tuple[str, ...], redis_url: str | None, prefix: str, strict: bool, quiet: bool
) -> None:
    """Load PATH... (UT1/Shalla folders or .tar.gz, squidGuard or DansGuardian files).

    Exit status: 0 activated, 1 not activated (reason on stderr), 2 usage error.
    """
    store: ListStore = RedisStore(redis_url, prefix=prefix) if redis_url else MemoryStore()
    progress = _tty_progress()
    try:
        report = load_lists(store, paths, strict=strict, progress=progress)
    except LoadError as exc:
        if progress:
            click.echo(err=True)
        if exc.report is not None:
            click.echo(exc.report.summary(), err=True)
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if progress:
        click.echo(err=True)
    if not quiet:
        click.echo(report.summary())
        if not redis_url:
            click.echo(
                "note: no --redis given: the lists were only validated (an in-process store "
                "lives in the server; it loads its lists itself at start and on reload)."
            )


@lists.command("status")
@click.option("--redis", "redis_url", metavar="URL", required=True, help=REDIS_HELP)
@click.option("--prefix", default="icapfilter:bl", show_default=True, help="Redis key prefix.")
def status_cmd(redis_url: str, prefix: str) -> None:
    """Show the active generation, its load time and counts per category."""
    store = RedisStore(redis_url, prefix=prefix)
    try:
        info = store.info()
    except StoreUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if info is None:
        click.echo("no lists loaded")
        sys.exit(1)
    loaded = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(info.loaded_at))
    click.echo(f"generation: {info.generation}")
    click.echo(f"loaded at:  {loaded} ({info.duration:.1f}s)")
    click.echo(
        f"entries:    {info.entries} (exceptions {info.exceptions}, skipped lines {info.errors})"
    )
    click.echo(f"sources:    {', '.join(info.sources)}")
    exception_names = {c.name for c in info.categories.values() if c.exception}
    for name, count in info.counts.items():
        tag = " (exception)" if name in exception_names else ""
        click.echo(f"  {name}{tag}: {count}")
