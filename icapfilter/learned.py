"""Learned-mode cache: remembers a verdict reached the expensive way (content scan).

Keys include the group and the list generation, so a reload or a policy
change never reuses a stale verdict. A verdict stored first wins until it
expires (``put`` does not overwrite), which keeps concurrent servers sharing
a cache (:mod:`icapfilter.redisstore.learned`) from flapping between two answers.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Protocol

import xxhash


def learned_key(group: str, generation: str, url: str) -> str:
    """128-bit hash of (group, generation, url): short keys, no collisions in practice."""
    return xxhash.xxh3_128_hexdigest(f"{group}\0{generation}\0{url}".encode())


class LearnedCache(Protocol):
    def get(self, group: str, generation: str, url: str) -> str | None:
        """The cached verdict, or None."""

    def put(self, group: str, generation: str, url: str, verdict: str, ttl: int) -> bool:
        """Store unless present; True when this call stored it."""


class MemoryLearnedCache:
    """Per-process cache bounded to ``max_entries`` (oldest evicted first)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, group: str, generation: str, url: str) -> str | None:
        key = learned_key(group, generation, url)
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] <= time.monotonic():
                del self._data[key]
                return None
            return item[1]

    def put(self, group: str, generation: str, url: str, verdict: str, ttl: int) -> bool:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        key = learned_key(group, generation, url)
        now = time.monotonic()
        with self._lock:
            item = self._data.get(key)
            if item is not None and item[0] > now:
                return False
            self._data[key] = (now + ttl, verdict)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
            return True

    def discard(self, group: str, generation: str, url: str) -> None:
        with self._lock:
            self._data.pop(learned_key(group, generation, url), None)
