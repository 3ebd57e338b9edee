"""Redis faults as :class:`StoreUnavailable`, failing fast while Redis is gone.

Every redis-py error becomes StoreUnavailable, so the policy applies
``[store] on_error`` (or scans instead of using the learned cache) and no
redis-py exception leaves this package.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from icapfilter.urls.errors import StoreUnavailable

FAULT_BACKOFF = 1.0
"""Seconds the server fails fast (:class:`FailFast`) after Redis stopped answering."""

ERRORS: tuple[type[Exception], ...] = (redis.exceptions.RedisError,
                                       redis.exceptions.RedisClusterException)
"""Everything redis-py raises for a fault, single node or cluster."""


@contextmanager
def unavailable() -> Iterator[None]:
    """Map redis-py errors to StoreUnavailable, without any backoff (one-shot commands)."""
    try:
        yield
    except redis.exceptions.RedisError as exc:
        raise StoreUnavailable(f"redis: {exc}") from exc


class FailFast:
    """Maps redis-py errors to StoreUnavailable and fails fast while Redis is unreachable.

    One request may touch Redis several times (ISTag, rate limit, lookup,
    learned cache), and many threads do so at once. After a connection error or
    a timeout, calls fail at once for ``backoff`` seconds; then a single call
    probes Redis while the others keep failing fast. So an outage costs one
    timeout per ``backoff`` per process instead of one per call, and a Redis
    coming back is not hit by every thread reconnecting together. An error
    *reply* (WRONGTYPE, READONLY, BUSY...) proves Redis is reachable: it is
    mapped but does not trip the backoff. ``backoff=0`` only maps errors (the
    default of a bare store: a one-shot command wants every call tried).
    """

    def __init__(self, backoff: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.backoff = backoff
        self._clock = clock
        self._down_until = 0.0
        self._reason = ""
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        """True while calls are failing fast."""
        return self._down_until != 0.0

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self._down_until:
            with self._lock:
                now = self._clock()
                if self._down_until and now < self._down_until:
                    raise StoreUnavailable(f"redis: {self._reason} (failing fast)")
                if self._down_until:  # this call probes; the others fail fast meanwhile
                    self._down_until = now + self.backoff
        try:
            yield
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            if self.backoff > 0:
                with self._lock:
                    self._reason = reason
                    self._down_until = self._clock() + self.backoff
            raise StoreUnavailable(f"redis: {reason}") from exc
        except redis.exceptions.RedisError as exc:
            self._down_until = 0.0
            raise StoreUnavailable(f"redis: {exc}") from exc
        self._down_until = 0.0


class ClusterFailFast(FailFast):
    """FailFast that also maps redis-py's cluster errors that are not RedisErrors.

    ``RedisClusterException`` (no reachable startup node, a slot no node
    serves) means the cluster cannot be reached: it trips the backoff like a
    connection error. The learned cache and rate limiter share this guard.
    """

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with super().__call__():
            try:
                yield
            except redis.exceptions.RedisClusterException as exc:
                raise redis.exceptions.ConnectionError(f"cluster: {exc}") from exc
