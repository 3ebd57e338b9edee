"""The per-client rate limiter in Redis: one counter per window, shared by every server."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from icapfilter.redisstore.failfast import FailFast


class RedisRateLimiter:
    """``INCR`` and ``EXPIRE`` in one MULTI round trip; shared by every server.

    Every redis-py error is raised as StoreUnavailable (the policy then lets
    the request through to the URL rules); pass the store's ``guard`` to fail
    fast with it.
    """

    def __init__(
        self,
        client: redis.Redis,
        limit: int,
        window: int,
        prefix: str = "icapfilter:rl",
        clock: Callable[[], float] = time.time,
        guard: FailFast | None = None,
    ) -> None:
        if limit < 1 or window < 1:
            raise ValueError("limit and window must be positive")
        self.client, self.limit, self.window = client, limit, window
        self.prefix, self._clock = prefix, clock
        self.guard = guard or FailFast()

    def hit(self, client_key: str) -> bool:
        slot = int(self._clock() // self.window)
        key = f"{self.prefix}:{slot}:{client_key}"
        with self.guard():
            pipe = self.client.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, self.window + 1)
            count, _ = pipe.execute()
        return int(count) <= self.limit
