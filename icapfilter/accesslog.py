"""The access log: one line per decision, in the format of ``[log] format``
(:mod:`.logformats`: JSON lines, Squid's native format, e2guardian's).

The file is opened in append mode and can be reopened (SIGUSR1, ``reload``)
so newsyslog and logrotate can rotate it without a restart.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO

from .logformats import formatter
from .outcome import Outcome

log = logging.getLogger("icapfilter.server")

LOST_REPORT_INTERVAL = 60.0  # seconds between two reports of lines that could not be written


class AccessLog:
    def __init__(self, path: str, fmt: str = "json", groups: Sequence[str] = ()) -> None:
        self.path = path
        self.format = fmt
        self._line = formatter(fmt, groups)
        self._lock = threading.Lock()
        self._file: TextIO | None = self._open()
        self._lost_lines = 0
        self._lost_reported = -LOST_REPORT_INTERVAL  # the first loss is reported at once

    def _open(self) -> TextIO:
        if self.path == "-":
            return sys.stdout
        return open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def reopen(self) -> None:
        """Write into a new file at ``path`` (SIGUSR1 after rotation). When it
        cannot be opened the old one stays in use: a signal must not end the
        worker nor lose the lines."""
        try:
            new = self._open()
        except OSError as exc:
            log.error("access log not reopened, still writing the old file: %s", exc)
            return
        with self._lock:
            old, self._file = self._file, new
        if old is not None and old is not new:
            self._close(old)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._close(self._file)
                self._file = None

    def _close(self, file: TextIO) -> None:
        """Close a file we opened; what its buffer still held may be lost, never raised."""
        if file is sys.stdout:
            return
        try:
            file.close()
        except OSError as exc:
            self._lost(exc)

    def __call__(self, outcome: Outcome, peer: tuple[object, ...], error: str | None) -> None:
        line = self.format_line(outcome, peer, error)
        if line is None:
            return
        with self._lock:
            if self._file is None:
                return
            try:
                self._file.write(line + "\n")
                if self._file is sys.stdout:
                    self._file.flush()
            except OSError as exc:
                self._lost(exc)

    def _lost(self, exc: OSError) -> None:
        """A line not written (a full disk): one error a minute with the count,
        not a traceback per request into an error log that is likely full too."""
        self._lost_lines += 1
        now = time.monotonic()
        if now - self._lost_reported >= LOST_REPORT_INTERVAL:
            log.error("access log %s: cannot write (%s): %d line%s lost since the last "
                      "report", self.path, exc.strerror or exc, self._lost_lines,
                      "" if self._lost_lines == 1 else "s")
            self._lost_reported, self._lost_lines = now, 0

    def format_line(self, outcome: Outcome, peer: tuple[object, ...], error: str | None,
                    now: float | None = None) -> str | None:
        """The line of one ICAP message, or None when the format logs it elsewhere
        (Squid and e2guardian formats: one line per HTTP transaction)."""
        return self._line(outcome, peer, error, time.time() if now is None else now)
