"""Redis clients that cannot hang a filter thread, and the URLs that select them.

A filter thread must never wait on Redis longer than a short socket timeout,
so every client built here reads with :data:`READ_TIMEOUT` and connects with
:data:`CONNECT_TIMEOUT` (a ``?socket_timeout=`` in the URL wins), retries a
dropped connection once at once (a stale pooled connection after a Redis
restart), and pings connections idle for :data:`HEALTH_CHECK_INTERVAL`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import parse_url
from redis.retry import Retry

READ_TIMEOUT = 0.5
"""Seconds a lookup waits for Redis: a decision is late by at most this much."""
CONNECT_TIMEOUT = 0.5
WRITE_TIMEOUT = 30.0
"""Seconds a bulk list load waits per round trip: a busy Redis must not fail a load."""
HEALTH_CHECK_INTERVAL = 10

CLUSTER_SCHEME = "redis+cluster"
"""URL scheme selecting the cluster store: ``redis+cluster://host:port[,host:port...]``."""
SCHEMES = ("redis://", "rediss://", "unix://", CLUSTER_SCHEME + "://")

# redis-py leaves these unannotated; typed here once so callers stay checked.
_parse_url: Callable[[str], dict[str, Any]] = parse_url
_node: Callable[[str, int], ClusterNode] = ClusterNode


def check_url(url: str) -> None:
    """Raise ValueError saying what is wrong with a Redis URL (never echoing
    it: it may hold a password)."""
    if not url.startswith(SCHEMES):
        scheme = url.split("://", 1)[0] + "://" if "://" in url else "no scheme"
        raise ValueError(f"must be a {', '.join(SCHEMES[:-1])} or {SCHEMES[-1]} "
                         f"URL; got {scheme[:20]!r}")
    try:
        if is_cluster_url(url):  # several host:port, which parse_url refuses
            parse_cluster_url(url)
        else:
            _parse_url(url)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a valid Redis URL: {exc}") from None


def redis_client(
    url: str, *, timeout: float = READ_TIMEOUT, connect_timeout: float = CONNECT_TIMEOUT
) -> redis.Redis:
    """A client that cannot hang a thread: redis-py's defaults wait seconds per call.

    One immediate retry on a connection error lets a pooled connection that died
    with a Redis restart be replaced without failing the request; timeouts are
    not retried, so a slow Redis costs one ``timeout``, not several. Options in
    the URL's query string (``?socket_timeout=2``) override these.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout,
        health_check_interval=HEALTH_CHECK_INTERVAL,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
    )


def is_cluster_url(url: str) -> bool:
    """True for the URLs :func:`cluster_client` accepts (the store factory dispatches on it)."""
    return url.startswith(CLUSTER_SCHEME + "://")


def parse_cluster_url(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """Startup nodes and client options of ``redis+cluster://[user:pass@]h:p,h:p[?opts]``.

    Several nodes are accepted because the client needs only one of them alive
    to discover the cluster: listing every master lets the server start while
    one is down. Options: ``socket_timeout``, ``socket_connect_timeout``.
    """
    if not is_cluster_url(url):
        raise ValueError(f"not a {CLUSTER_SCHEME}:// URL: {url!r}")
    rest = url[len(CLUSTER_SCHEME) + 3:]
    rest, _, query = rest.partition("?")
    rest = rest.split("/", 1)[0]  # a cluster has database 0 only; a /0 is tolerated
    options: dict[str, Any] = {}
    if "@" in rest:
        userinfo, rest = rest.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        if user:
            options["username"] = unquote(user)
        if password:
            options["password"] = unquote(password)
    nodes = []
    for part in rest.split(","):
        parsed = urlsplit("//" + part.strip())
        if not parsed.hostname:
            raise ValueError(f"{CLUSTER_SCHEME} URL: no host in {part!r}")
        nodes.append((parsed.hostname, parsed.port or 6379))
    for key, values in parse_qs(query).items():
        if key not in ("socket_timeout", "socket_connect_timeout"):
            raise ValueError(f"{CLUSTER_SCHEME} URL: unknown option {key!r}")
        options[key] = float(values[-1])
    return nodes, options


def cluster_client(
    url: str, *, timeout: float = READ_TIMEOUT, connect_timeout: float = CONNECT_TIMEOUT
) -> RedisCluster:
    """A cluster client that cannot hang a thread, configured like :func:`redis_client`.

    Connects at once to discover the slots; the cluster store wraps it in
    :class:`LazyClient` for that reason.
    """
    nodes, options = parse_cluster_url(url)
    settings: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": connect_timeout,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        **options,
    }
    return RedisCluster(
        startup_nodes=[_node(host, port) for host, port in nodes],
        retry=Retry(NoBackoff(), 1),
        **settings,
    )


class LazyClient:
    """Builds the cluster client on first use, so a cluster down at start is a
    fault handled per request (on_error) and not a server that will not start."""

    def __init__(self, factory: Callable[[], RedisCluster]) -> None:
        self._factory = factory
        self._client: RedisCluster | None = None
        self._lock = threading.Lock()

    def real(self) -> RedisCluster:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
                client = self._client
        return client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)
