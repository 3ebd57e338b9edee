"""The ``icapfilter`` command. Thin: parse options, build, run, print.

Exit codes: 0 success, 1 the operation failed (e.g. a list load), 2 bad usage
or bad configuration.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from . import __version__
from .commands.options import show_list_errors_option
from .config import Config, ConfigError, load_config


def _load(config_path: str | None, overrides: dict[str, Any]) -> Config:
    return load_config(config_path).with_overrides(**overrides)


@click.group()
@click.version_option(__version__, prog_name="icapfilter")
def main() -> None:
    """ICAP content filter for Squid: URL blacklists and phrase lists."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file (TOML). Without it: built-in defaults.")
@click.option("--listen", help="HOST:PORT to listen on (default 127.0.0.1:1344).")
@click.option("--workers", type=int, help="Processes sharing the port (SO_REUSEPORT).")
@click.option("--threads", type=int, help="Worker threads per process.")
@click.option("--redis", "redis_url", help="Redis URL of the list store (default: in-process).")
def serve(config_path: str | None, listen: str | None, workers: int | None,
          threads: int | None, redis_url: str | None) -> None:
    """Run the ICAP server until SIGTERM (SIGHUP reloads, SIGUSR1 reopens logs)."""
    from .app import build, make_recorder, setup_logging
    from .server.runner import serve as run

    overrides = {"server": {"listen": listen, "workers": workers, "threads": threads},
                 "store": {"redis": redis_url}}
    from .commands.preflight import check_before_start
    from .commands.startup import startup_errors

    with startup_errors("icapfilter", config_path):
        config = _load(config_path, overrides)
        check_before_start(config)
        setup_logging(config)
        code = run(lambda: _load(config_path, overrides), build, make_recorder, setup_logging)
    sys.exit(code)


def _register() -> None:
    from .commands.check_cmd import check
    from .commands.helper_cmd import squid_helper
    from .commands.lists_cmd import lists
    from .commands.reload_cmd import reload
    from .commands.scan_cmd import scan
    from .commands.service_cmd import install_service

    for command in (check, install_service, lists, reload, scan, squid_helper):
        main.add_command(command)


_register()


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file: names the Redis store and the stats folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stats(config_path: str | None, as_json: bool) -> None:
    """Print counters summed over every worker (and, with Redis, every server)."""
    import json

    from .stats import collect

    try:
        cfg = load_config(config_path)
        workers, data = collect(cfg)
    except ConfigError as exc:
        click.echo(f"icapfilter: configuration error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the store being down is a plain failure
        click.echo(f"icapfilter: cannot read statistics: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({"workers": workers, "counters": data}, sort_keys=True))
        return
    click.echo(f"workers reporting: {workers}")
    for key in sorted(data):
        if "_bucket" not in key:
            click.echo(f"{key} {data[key]:g}")
    if workers == 0:
        from .stats import folder_of

        where = "Redis ([store] redis)" if cfg.store.redis else \
            f"{folder_of(cfg)} ([stats] dir)"
        click.echo(f"icapfilter: no worker has reported statistics to {where}: is the server "
                   "running with this configuration? (give the same --config)", err=True)
        sys.exit(1)


@main.group()
def config() -> None:
    """Configuration file tools."""


@config.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@show_list_errors_option
def config_check(path: str) -> None:
    """Validate a configuration file without starting (exit 0 valid, 2 invalid).

    Besides the values and the lists: the log and pid files must be writable,
    the listen addresses this machine's, the stats folder private. Ports are
    not tried (a running server holds them); `serve` tries them at start.
    """
    from .app import build
    from .commands.preflight import WARNING, problems

    try:
        cfg = load_config(path)
        build(cfg)
    except (ConfigError, OSError, ValueError) as exc:
        click.echo(f"{exc}", err=True)
        sys.exit(2)
    found = problems(cfg)
    for problem in found:
        click.echo(f"{'warning: ' if problem.kind == WARNING else ''}{path}: {problem}", err=True)
    if any(problem.kind != WARNING for problem in found):
        sys.exit(2)
    click.echo(f"{path}: OK")
