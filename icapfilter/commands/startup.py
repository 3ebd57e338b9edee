"""How a long-running command reports that it could not start."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from icapfilter.config import ConfigError


def _in(source: str | None, message: str) -> str:
    """The message, naming the configuration file when it does not yet."""
    if source and source not in message:
        return f"{source}: {message}"
    return message


@contextmanager
def startup_errors(prog: str, source: str | None = None) -> Iterator[None]:
    """One line on stderr and an exit status, never a traceback: 2 for a bad
    configuration, 1 for what the system refused (a port, a file, a store).
    ``source``, the configuration file, is named in every message."""
    try:
        yield
    except ConfigError as exc:
        click.echo(f"{prog}: configuration error: {_in(source, str(exc))}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"{prog}: cannot start: {_in(source, str(exc))}", err=True)
        sys.exit(1)
