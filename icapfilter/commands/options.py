"""Options several commands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _show(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from icapfilter.listnotes import show_list_errors

        show_list_errors()


def show_list_errors_option(command: F) -> F:
    """Phrase-list problems are summed up in one line; this option prints each one."""
    return click.option(
        "--show-list-errors", is_flag=True, expose_value=False, is_eager=True, callback=_show,
        help="Print every phrase-list problem, not only their summary.")(command)
