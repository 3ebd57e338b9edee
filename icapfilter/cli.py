"""The ``icapfilter`` command. Thin: parse options, build, run, print.

Exit codes: 0 success, 1 the operation failed (e.g. a list load), 2 bad usage
or bad configuration.
"""

from __future__ import annotations

import sys

import click

from . import __version__
from .config import Config, ConfigError, load_config


def _load(config_path: str | None, overrides: dict) -> Config:
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
    try:
        config = _load(config_path, overrides)
        setup_logging(config)
        code = run(lambda: _load(config_path, overrides), build, make_recorder)
    except ConfigError as exc:
        click.echo(f"icapfilter: configuration error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"icapfilter: cannot start: {exc}", err=True)
        sys.exit(1)
    sys.exit(code)


def _register() -> None:
    from .commands.check_cmd import check
    from .commands.lists_cmd import lists
    from .commands.scan_cmd import scan

    for command in (check, lists, scan):
        main.add_command(command)


_register()


@main.group()
def config() -> None:
    """Configuration file tools."""


@config.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def config_check(path: str) -> None:
    """Validate a configuration file without starting (exit 0 valid, 2 invalid)."""
    from .app import build

    try:
        build(load_config(path))
    except (ConfigError, OSError, ValueError) as exc:
        click.echo(f"{exc}", err=True)
        sys.exit(2)
    click.echo(f"{path}: OK")
