"""The access log: one line per decision, in the format of ``[log] format``
(:mod:`.logformats`: JSON lines, Squid's native format, e2guardian's).

The file is opened in append mode and can be reopened (SIGUSR1, ``reload``)
so newsyslog and logrotate can rotate it without a restart.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO

from .logformats import formatter
from .outcome import Outcome


class AccessLog:
    def __init__(self, path: str, fmt: str = "json", groups: Sequence[str] = ()) -> None:
        self.path = path
        self.format = fmt
        self._line = formatter(fmt, groups)
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self.reopen()

    def reopen(self) -> None:
        with self._lock:
            if self.path == "-":
                self._file = sys.stdout
                return
            if self._file is not None:
                self._file.close()
            self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def close(self) -> None:
        with self._lock:
            if self._file is not None and self._file is not sys.stdout:
                self._file.close()
                self._file = None

    def __call__(self, outcome: Outcome, peer: tuple[object, ...], error: str | None) -> None:
        line = self.format_line(outcome, peer, error)
        if line is None:
            return
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                if self._file is sys.stdout:
                    self._file.flush()

    def format_line(self, outcome: Outcome, peer: tuple[object, ...], error: str | None,
                    now: float | None = None) -> str | None:
        """The line of one ICAP message, or None when the format logs it elsewhere
        (Squid and e2guardian formats: one line per HTTP transaction)."""
        return self._line(outcome, peer, error, time.time() if now is None else now)
