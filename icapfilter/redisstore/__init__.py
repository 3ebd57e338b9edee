"""Redis behind one adapter: the only package that imports ``redis``.

Everything shared by a fleet of servers lives here: the list stores (single
node and cluster), the learned cache, the rate limiter, the statistics
snapshots and reload notifications, with the client factory and the fault
handling (:class:`~icapfilter.redisstore.failfast.FailFast`) they share. The
rest of icapfilter sees the protocols (``ListStore``, ``LearnedCache``,
``RateLimiter``, a stats sink) through the functions below, and Redis faults
only as :class:`~icapfilter.urls.errors.StoreUnavailable`. ``redis`` is
imported on first use, so a deployment without Redis never loads it.

Modules: ``client`` (clients, URLs), ``failfast`` (errors, backoff), ``base``
(what both list stores share), ``single`` and ``cluster`` (the list stores),
``learned``, ``ratelimit``, ``stats``, ``reload``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from icapfilter.learned import LearnedCache
    from icapfilter.ratelimit import RateLimiter
    from icapfilter.redisstore.base import RedisListStore
    from icapfilter.urls.store import ListStore

DEFAULT_PREFIX = "icapfilter:bl"


def check_url(url: str) -> None:
    """Raise ValueError saying what is wrong with a Redis URL (without echoing it)."""
    from icapfilter.redisstore.client import check_url as check

    check(url)


def open_store(url: str, *, prefix: str = DEFAULT_PREFIX, fail_fast: bool = False) -> ListStore:
    """The list store at ``url``: a Redis Cluster for ``redis+cluster://``, else one Redis.

    ``fail_fast`` is for a server: after Redis stopped answering, calls fail at
    once for a second instead of each waiting for a timeout (docs/operations.md).
    A one-shot command leaves it off, so every call is tried.
    """
    from icapfilter.redisstore.client import is_cluster_url
    from icapfilter.redisstore.failfast import FAULT_BACKOFF

    backoff = FAULT_BACKOFF if fail_fast else 0.0
    if is_cluster_url(url):
        from icapfilter.redisstore.cluster import ClusterStore

        return ClusterStore(url, prefix=prefix, fault_backoff=backoff)
    from icapfilter.redisstore.single import RedisStore

    return RedisStore(url, prefix=prefix, fault_backoff=backoff)


def _redis_store(store: ListStore) -> RedisListStore:
    from icapfilter.redisstore.base import RedisListStore

    if not isinstance(store, RedisListStore):
        raise TypeError(f"not a Redis list store: {type(store).__name__}")
    return store


def learned_cache(store: ListStore) -> LearnedCache:
    """The fleet's learned cache, on the connection and fault guard of ``store``
    (one outage makes the lookups, the cache and the rate limiter fail fast together)."""
    from icapfilter.redisstore.learned import RedisLearnedCache

    redis_store = _redis_store(store)
    return RedisLearnedCache(redis_store.client, guard=redis_store.guard)


def rate_limiter(store: ListStore, limit: int, window: int) -> RateLimiter:
    """The fleet's rate limiter (``limit`` events per ``window`` seconds), on the
    connection and fault guard of ``store``."""
    from icapfilter.redisstore.ratelimit import RedisRateLimiter

    redis_store = _redis_store(store)
    return RedisRateLimiter(redis_store.client, limit, window, guard=redis_store.guard)


def stats_sink(url: str, ttl: int) -> Callable[[str, dict[str, float]], None]:
    """Writes a worker's statistics snapshot to Redis, expiring after ``ttl`` seconds."""
    from icapfilter.redisstore.stats import stats_sink as sink

    return sink(url, ttl)


def collect_stats(url: str) -> tuple[int, dict[str, float]]:
    """Workers with a live snapshot in Redis, and their counters summed."""
    from icapfilter.redisstore.stats import collect_stats as collect

    return collect(url)


def publish_reload(url: str) -> int:
    """Tell every server listening on Redis to reload; how many workers were told."""
    from icapfilter.redisstore.reload import publish_reload as publish

    return publish(url)


def listen_for_reload(url: str, stop: threading.Event, on_reload: Callable[[], None]) -> None:
    """Call ``on_reload`` for every reload published, until ``stop`` is set (blocks)."""
    from icapfilter.redisstore.reload import listen_for_reload as listen

    listen(url, stop, on_reload)
