"""Progress of a list image build, for the log and for a terminal.

A 1.8-million-line list takes seconds to compile; a server that logs nothing
meanwhile looks hung. The reader reports every 50,000 entries; this turns
that into a log line every few seconds (entries read, per cent of the lines
counted beforehand, rate) and, on a terminal, a line rewritten in place.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable


def describe(stage: str, done: int, total: int | None, elapsed: float) -> str:
    """One progress line: ``1,200,000 of about 1,800,000 entries read (67%), 240,000/s``."""
    if stage == "read":
        text = f"{done:,} entries read"
        if total:
            text = f"{done:,} of about {max(total, done):,} entries read " \
                   f"({min(100, 100 * done // max(total, 1))}%)"
        if elapsed > 0:
            text += f", {done / elapsed:,.0f}/s"
        return text
    if stage == "sort":
        return f"sorting {done:,} keys"
    return f"{done:,} keys written"


class ProgressLog:
    """A Progress callback: log every ``every`` seconds, and echo when given a terminal."""

    def __init__(self, logger: logging.Logger, every: float = 2.0,
                 echo: Callable[[str], None] | None = None) -> None:
        self.logger = logger
        self.every = every
        self.echo = echo
        self.started = time.monotonic()
        self._logged = self.started
        self._echoed = 0.0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        line = describe(stage, done, total, now - self.started)
        final = stage != "read" or (total is not None and done >= total)
        if stage != "read" or now - self._logged >= self.every:
            self._logged = now
            self.logger.info("lists: building the list image: %s", line)
        if self.echo is not None and (final or now - self._echoed >= 0.2):
            self._echoed = now
            self.echo(line)


def terminal_echo() -> Callable[[str], None] | None:
    """Rewrite one stderr line in place; None when stderr is no terminal (cron, systemd)."""
    if not sys.stderr.isatty():
        return None

    def echo(line: str) -> None:
        sys.stderr.write(f"\r{line}   ")
        sys.stderr.flush()

    return echo
