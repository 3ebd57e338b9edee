"""Fixed-window rate limiting per client (e.g. for block-page or learned-mode abuse).

A window is ``window`` seconds aligned on the epoch; the counter key carries
the window number, so there is nothing to reset and expired counters vanish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    def hit(self, client_key: str) -> bool:
        """Count one event; True while the client is within its limit."""


class MemoryRateLimiter:
    def __init__(self, limit: int, window: int, clock: Callable[[], float] = time.time) -> None:
        if limit < 1 or window < 1:
            raise ValueError("limit and window must be positive")
        self.limit, self.window, self._clock = limit, window, clock
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, client_key: str) -> bool:
        slot = int(self._clock() // self.window)
        with self._lock:
            if len(self._counts) > 100_000:  # drop other windows' counters
                self._counts = {k: v for k, v in self._counts.items() if v[0] == slot}
            current_slot, count = self._counts.get(client_key, (slot, 0))
            count = count + 1 if current_slot == slot else 1
            self._counts[client_key] = (slot, count)
            return count <= self.limit
