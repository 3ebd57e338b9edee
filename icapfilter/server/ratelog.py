"""Warnings about hostile or misconfigured clients, summarised.

One line per refused connection or cut message let a client that opens a
thousand connections write a thousand log lines. A :class:`SummaryLog`
counts every event and writes at most one line per ``interval``: the first
event at once, later ones as a count with the last few addresses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque


class SummaryLog:
    def __init__(self, logger: logging.Logger, what: str, interval: float = 10.0,
                 keep: int = 5) -> None:
        self._log = logger
        self._what = what
        self._interval = interval
        self._lock = threading.Lock()
        self._last: deque[str] = deque(maxlen=keep)
        self._pending = 0
        self._since = time.monotonic()
        self._logged_at = -interval  # the first event is logged at once
        self.total = 0

    def note(self, address: str, detail: str = "") -> None:
        with self._lock:
            self.total += 1
            self._pending += 1
            if address not in self._last:
                self._last.append(address)
            if time.monotonic() - self._logged_at < self._interval:
                return
        if self._pending == 1 and detail:
            self._emit(detail)
        else:
            self._emit()

    def flush(self) -> None:
        """Write the summary of what was counted since the last line, when due."""
        with self._lock:
            due = self._pending and time.monotonic() - self._logged_at >= self._interval
        if due:
            self._emit()

    def _emit(self, detail: str = "") -> None:
        with self._lock:
            count, self._pending = self._pending, 0
            if not count:
                return
            now = time.monotonic()
            seconds = now - self._since
            self._since = self._logged_at = now
            last = ", ".join(self._last)
            self._last.clear()
        if count == 1:
            self._log.warning("%s from %s%s", self._what, last, f" ({detail})" if detail else "")
        else:
            self._log.warning("%s: %d in the last %.0f s (last from %s)", self._what, count,
                              seconds, last)
