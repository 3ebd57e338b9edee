"""The learned cache in Redis, shared by every server of a fleet.

Writes use ``SET ... EX ttl NX``: the first verdict stored wins until it
expires, so concurrent servers do not flap between two answers.
"""

from __future__ import annotations

import redis

from icapfilter.learned import MemoryLearnedCache, learned_key
from icapfilter.redisstore.failfast import FailFast


class RedisLearnedCache:
    """Shared by all servers, with a short per-process copy of what was found.

    A stored verdict never changes (``SET NX``) and its key names the list
    generation, so a copy kept ``local_seconds`` (5 minutes) can only outlive
    its Redis entry by that long, which against a ``ttl`` of hours is noise;
    it saves the round trip that learned mode otherwise pays on every request,
    twice with ``mark_requests`` (REQMOD and RESPMOD).

    A miss is kept ``miss_seconds`` (2 s): pages never learned (images, JSON,
    anything not scanned) would otherwise cost a round trip on every request,
    and a page that another server learns meanwhile is only scanned once more
    here. A verdict this process stores replaces its miss at once.

    Every redis-py error is raised as StoreUnavailable (the policy then scans
    instead of using the cache); pass the store's ``guard`` to fail fast with it.
    """

    def __init__(self, client: redis.Redis, prefix: str = "icapfilter:learn",
                 guard: FailFast | None = None, local_seconds: int = 300,
                 local_entries: int = 50_000, miss_seconds: int = 2) -> None:
        self.client = client
        self.prefix = prefix
        self.guard = guard or FailFast()
        self.local_seconds = local_seconds
        self.miss_seconds = miss_seconds
        self._local = MemoryLearnedCache(local_entries) if local_seconds > 0 else None
        self._misses = MemoryLearnedCache(local_entries) if miss_seconds > 0 else None

    def _key(self, group: str, generation: str, url: str) -> str:
        return f"{self.prefix}:{learned_key(group, generation, url)}"

    def get(self, group: str, generation: str, url: str) -> str | None:
        if self._local is not None:
            kept = self._local.get(group, generation, url)
            if kept is not None:
                return kept
        if self._misses is not None and self._misses.get(group, generation, url) is not None:
            return None
        with self.guard():
            value = self.client.get(self._key(group, generation, url))
        if value is None:
            if self._misses is not None:
                self._misses.put(group, generation, url, "", self.miss_seconds)
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        self._keep(group, generation, url, text)
        return text

    def put(self, group: str, generation: str, url: str, verdict: str, ttl: int) -> bool:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        with self.guard():
            stored = bool(
                self.client.set(self._key(group, generation, url), verdict, ex=ttl, nx=True)
            )
        if self._misses is not None:
            self._misses.discard(group, generation, url)
        if stored:
            self._keep(group, generation, url, verdict, ttl)
        return stored

    def _keep(self, group: str, generation: str, url: str, verdict: str,
              ttl: int | None = None) -> None:
        if self._local is not None:
            seconds = self.local_seconds if ttl is None else min(ttl, self.local_seconds)
            self._local.put(group, generation, url, verdict, seconds)
