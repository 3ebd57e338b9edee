"""``icapfilter lists load|status``: put blacklists into the store and inspect it."""

from __future__ import annotations

import sys
import time
from typing import NoReturn

import click

from icapfilter.redisstore import open_store
from icapfilter.urls.errors import LoadError, StoreUnavailable
from icapfilter.urls.loader import load_lists
from icapfilter.urls.memory_store import MemoryStore
from icapfilter.urls.model import Progress
from icapfilter.urls.store import ListStore

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


def redis_url_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check a ``--redis`` URL before anything connects: a usage error naming
    the option, instead of redis-py's traceback."""
    from icapfilter.config import check_redis_url

    if value:
        try:
            check_redis_url(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


def exit_not_loaded(exc: LoadError, progress_shown: bool) -> NoReturn:
    """Exit 1 with the load report and why nothing was activated."""
    if progress_shown:
        click.echo(err=True)  # ends the progress line
    if exc.report is not None:
        click.echo(exc.report.summary(), err=True)
    click.echo(f"error: {exc}", err=True)
    sys.exit(1)


@click.group("lists")
def lists() -> None:
    """Load URL/domain blacklists and show what is loaded."""


def _from_config(config_path: str | None, paths: tuple[str, ...], redis_url: str | None,
                 strict: bool) -> tuple[tuple[str, ...], str | None, bool]:
    """Fill what the command line left out from the configuration file."""
    if not config_path:
        return paths, redis_url, strict
    from icapfilter.config import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    return (paths or tuple(config.lists.paths), redis_url or config.store.redis or None,
            strict or config.lists.strict)


_CONFIG_HELP = "Take the store, list paths and strictness from this configuration file."


@lists.command("load")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--redis", "redis_url", metavar="URL", help=REDIS_HELP, callback=redis_url_option)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option("--prefix", default="icapfilter:bl", show_default=True, help="Redis key prefix.")
@click.option("--strict", is_flag=True, help="Refuse the whole load if any line is bad.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@click.option("--cache-dir", metavar="DIR", default=None,
              help="Without --redis: where to keep the compiled list image (default: "
                   "[lists] cache_dir, else beside the lists).")
def load_cmd(
    paths: tuple[str, ...], redis_url: str | None, config_path: str | None, prefix: str,
    strict: bool, quiet: bool, cache_dir: str | None = None
) -> None:
    """Load PATH... (UT1/Shalla folders or .tar.gz, squidGuard or DansGuardian files).

    Without PATH, the configuration's [lists] paths are loaded (that is what
    `lists reload` does). Without --redis, the lists are compiled into the
    image an in-process server maps (so it starts without building it).
    Exit status: 0 activated, 1 not activated (reason on stderr), 2 usage error.
    """
    paths, redis_url, strict = _from_config(config_path, paths, redis_url, strict)
    if not paths:
        raise click.UsageError("no list to load: give PATH... or --config with [lists] paths")
    if not redis_url:
        from icapfilter.commands.lists_image import build_image_cmd

        if build_image_cmd(paths, config_path, cache_dir, strict, quiet):
            return
    store: ListStore = open_store(redis_url, prefix=prefix) if redis_url else MemoryStore()
    progress = _tty_progress()
    try:
        report = load_lists(store, paths, strict=strict, progress=progress)
    except LoadError as exc:
        exit_not_loaded(exc, progress is not None)
    if progress:
        click.echo(err=True)
    if not quiet:
        summary = report.summary()
        if not redis_url:  # nothing was activated anywhere: do not say so
            _, _, rest = summary.partition("\n")
            summary = "lists checked, not loaded anywhere (no --redis)\n" + rest
        click.echo(summary)
        if not redis_url:
            click.echo("note: a server with the in-process store loads its [lists] paths "
                       "itself, at start and on `icapfilter reload`")


@lists.command("reload")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=True,
              help=_CONFIG_HELP)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
@click.pass_context
def reload_cmd(ctx: click.Context, config_path: str, quiet: bool) -> None:
    """Load the configured [lists] paths again as a new generation.

    With Redis every server switches to it at once; with the in-process store
    use `icapfilter reload`, which makes the server reload its own lists.
    """
    ctx.invoke(load_cmd, paths=(), redis_url=None, config_path=config_path,
               prefix="icapfilter:bl", strict=False, quiet=quiet)


@lists.command("status")
@click.option("--redis", "redis_url", metavar="URL", help=REDIS_HELP, callback=redis_url_option)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option("--prefix", default="icapfilter:bl", show_default=True, help="Redis key prefix.")
def status_cmd(redis_url: str | None, config_path: str | None, prefix: str) -> None:
    """Show the active generation, its load time and counts per category.

    With --config naming no Redis store, the running server of that
    configuration is asked what its in-process store holds.
    """
    _, redis_url, _ = _from_config(config_path, ("-",), redis_url, False)
    if not redis_url:
        from icapfilter.commands.server_status import print_server_lists

        # in-process store: ask the running server (without --config: the
        # one started without a configuration, on 127.0.0.1:1344)
        print_server_lists(config_path)
        return
    store = open_store(redis_url, prefix=prefix)
    try:
        info = store.info()
    except StoreUnavailable as exc:
        click.echo(f"error: {exc} (is Redis running at the --redis / [store] redis "
                   "address?)", err=True)
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
