"""``icapfilter lists load`` without Redis: compile the list image a server maps.

A server with the in-process store would build the image itself at start;
building it beforehand (from cron after a list update, or a package's
post-install) makes that start take a second instead.
"""

from __future__ import annotations

import logging
import sys

import click

from icapfilter.urls.errors import LoadError
from icapfilter.urls.image_cache import CacheUnavailable
from icapfilter.urls.image_progress import ProgressLog, terminal_echo

log = logging.getLogger("icapfilter.lists")


def _image_settings(config_path: str | None) -> tuple[bool, str]:
    """([lists] image, [lists] cache_dir) of the configuration, defaults without one."""
    if not config_path:
        return True, ""
    from icapfilter.config import load_config

    lists = load_config(config_path).lists  # already checked by _from_config
    return lists.image, lists.cache_dir


def build_image_cmd(paths: tuple[str, ...], config_path: str | None, cache_dir: str | None,
                    strict: bool, quiet: bool) -> bool:
    """Build (or confirm) the image; False when images are off or no folder can hold one."""
    from icapfilter.commands.lists_cmd import exit_not_loaded
    from icapfilter.urls.image_store import open_image_store

    enabled, configured = _image_settings(config_path)
    if not enabled and cache_dir is None:
        return False
    echo = terminal_echo()
    try:
        store, report, built = open_image_store(
            paths, configured_dir=cache_dir or configured, strict=strict,
            progress=ProgressLog(log, echo=echo))
    except CacheUnavailable as exc:
        click.echo(f"warning: {exc}; the lists are only checked", err=True)
        return False
    except OSError as exc:  # a full disk, a folder that vanished
        if echo:
            click.echo(err=True)
        click.echo(f"error: cannot write the list image: {exc}", err=True)
        sys.exit(1)
    except LoadError as exc:
        exit_not_loaded(exc, echo is not None)
    if echo and built:
        click.echo(err=True)
    if not quiet:
        state = "built" if built else "up to date, not rebuilt"
        _, _, rest = report.summary().partition("\n")
        click.echo(f"list image {store.image.path}: {state} (generation {report.generation})")
        click.echo(rest)
        click.echo("note: a server with the in-process store maps this image at start and on "
                   "`icapfilter reload` (rebuilding it itself when the lists change)")
    return True
