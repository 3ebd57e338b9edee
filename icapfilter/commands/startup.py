"""How a long-running command reports that it could not start."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from icapfilter.config import ConfigError


@contextmanager
def startup_errors(prog: str) -> Iterator[None]:
    """One line on stderr and an exit status, never a traceback: 2 for a bad
    configuration, 1 for what the system refused (a port, a file, a store)."""
    try:
        yield
    except ConfigError as exc:
        click.echo(f"{prog}: configuration error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"{prog}: cannot start: {exc}", err=True)
        sys.exit(1)
