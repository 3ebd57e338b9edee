"""Redis Cluster store: the Redis store's lists spread over the masters of a cluster.

Same layout and semantics as :class:`~icapfilter.urls.redis_store.RedisStore`
(``P`` is the prefix, default ``icapfilter:bl``)::

    P:active                 -> generation id (the one atomic switch; one key, one slot)
    P:g:<gen>:<2 bytes>      -> HASH  <6 bytes> -> "3" or "3,17"; no hash tag, so the
                                32,768 bucket names spread over every slot and master
    P:meta:<gen>             -> JSON GenerationInfo
    P:gens                   -> SET of generations present
    P:retired                -> HASH  <gen> -> unix time it stopped being active
    P:lock                   -> token of the running load

Why not the RedisStore's Lua lookup: a script may only touch keys of one slot,
and the point of a cluster is that the buckets are *not* in one slot. So a
lookup is one cluster pipeline instead: ``GET P:active`` plus one ``HGET`` per
candidate in the generation the store saw last. redis-py groups a pipeline's
commands by node, writes every node's batch, then reads the replies: one round
trip per node at most, nodes in parallel.

Consistency without a script, in two parts:

* **Pointer re-check.** The pipeline reads the pointer together with the
  buckets. If the pointer is not the generation the HGETs were built for (a
  reload happened since the store last looked), the answer is thrown away and
  the lookup is redone once with the new generation. So an answer is only ever
  taken from a generation that was active while the pipeline ran.
* **Grace time.** The pointer and the buckets live on different nodes, so
  "while the pipeline ran" is not one instant: an HGET may run a few
  milliseconds after the pointer read, when the generation was already switched
  and being deleted. Therefore the generation a reload replaces is not deleted
  at once but ``grace`` seconds (:data:`GRACE`, 5 s) after the switch, and a
  pipeline that took longer than half the grace is not trusted (redone). An
  answer thus comes from a complete, immutable generation that was active
  during the pipeline: the old table or the new one, never a mix, never a
  half-deleted one. The cost is that Redis holds two generations for ``grace``
  seconds after each reload.

The delayed delete runs on a timer thread of the loading process (``icapfilter
lists load`` exits ``grace`` seconds later because of it); if that process dies
first, the next load deletes every generation that is neither active nor
retired less than ``grace`` ago, as RedisStore does with leftovers.

Faults are handled as in RedisStore (short socket timeouts, one immediate retry
of a dropped connection, :class:`ClusterFailFast`); the cluster client is only
built on first use, so a cluster that is down when the server starts gives
``[store] on_error`` answers, not a server that cannot start.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from icapfilter.urls.errors import LoadError, StoreUnavailable
from icapfilter.urls.hashing import split_hash
from icapfilter.urls.model import (
    GenerationInfo,
    Ids,
    Progress,
    decode_ids,
    encode_ids,
    new_generation_id,
)
from icapfilter.urls.redis_store import (
    CONNECT_TIMEOUT,
    FAULT_BACKOFF,
    HEALTH_CHECK_INTERVAL,
    LOCK_SECONDS,
    READ_TIMEOUT,
    WRITE_TIMEOUT,
    FailFast,
    _GenerationMeta,
)

SCHEME = "redis+cluster"
"""URL scheme selecting this store: ``redis+cluster://host:port[,host:port...]``."""
GRACE = 5.0
"""Seconds a replaced generation stays readable (see the module docstring)."""
_DROP_BATCH = 4096
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

__all__ = ["FAULT_BACKOFF", "GRACE", "SCHEME", "ClusterFailFast", "ClusterStore",
           "cluster_client", "is_cluster_url"]


def _glob_escape(text: bytes) -> bytes:
    """A prefix as a literal in a SCAN MATCH pattern."""
    for special in (b"\\", b"*", b"?", b"[", b"]"):
        text = text.replace(special, b"\\" + special)
    return text


def is_cluster_url(url: str) -> bool:
    """True for the URLs :func:`cluster_client` accepts (make_store dispatches on it)."""
    return url.startswith(SCHEME + "://")


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


def parse_cluster_url(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """Startup nodes and client options of ``redis+cluster://[user:pass@]h:p,h:p[?opts]``.

    Several nodes are accepted because the client needs only one of them alive
    to discover the cluster: listing every master lets the server start while
    one is down. Options: ``socket_timeout``, ``socket_connect_timeout``.
    """
    if not is_cluster_url(url):
        raise ValueError(f"not a {SCHEME}:// URL: {url!r}")
    rest = url[len(SCHEME) + 3:]
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
            raise ValueError(f"{SCHEME} URL: no host in {part!r}")
        nodes.append((parsed.hostname, parsed.port or 6379))
    for key, values in parse_qs(query).items():
        if key not in ("socket_timeout", "socket_connect_timeout"):
            raise ValueError(f"{SCHEME} URL: unknown option {key!r}")
        options[key] = float(values[-1])
    return nodes, options


def cluster_client(
    url: str, *, timeout: float = READ_TIMEOUT, connect_timeout: float = CONNECT_TIMEOUT
) -> RedisCluster:
    """A cluster client that cannot hang a thread, configured like ``redis_client``.

    Connects at once to discover the slots; :class:`ClusterStore` calls it
    lazily for that reason.
    """
    nodes, options = parse_cluster_url(url)
    settings: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": connect_timeout,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        **options,
    }
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes],
        retry=Retry(NoBackoff(), 1),
        **settings,
    )


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


class _LazyClient:
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


class ClusterStore(_GenerationMeta):
    """A ListStore on a Redis Cluster; same contract and semantics as RedisStore.

    ``pointer_ttl``: how long :meth:`current_generation` answers from its cache.
    :meth:`lookup` does not wait for it: it always uses the generation seen last
    and re-checks the pointer in the same pipeline (module docstring), so an
    uncached decision sees a reload at once. ``grace``: seconds a replaced
    generation stays readable; 0 deletes at once and is only safe with a
    single lookup client (tests).
    """

    def __init__(
        self,
        client_or_url: RedisCluster | str,
        *,
        prefix: str = "icapfilter:bl",
        pointer_ttl: float = 1.0,
        pipeline_size: int = 500,
        timeout: float = READ_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
        fault_backoff: float = 0.0,
        grace: float = GRACE,
    ) -> None:
        if isinstance(client_or_url, str):
            url = client_or_url
            parse_cluster_url(url)  # a malformed URL fails now, not on the first request
            self.client: Any = _LazyClient(lambda: cluster_client(url, timeout=timeout))
            self.write_client: Any = _LazyClient(
                lambda: cluster_client(url, timeout=write_timeout, connect_timeout=write_timeout))
        else:
            self.client = self.write_client = client_or_url
        self.guard = ClusterFailFast(fault_backoff)
        self.prefix = prefix
        self.pointer_ttl = pointer_ttl
        self.pipeline_size = pipeline_size
        self.grace = grace
        self._active_key = f"{prefix}:active"
        self._gens_key = f"{prefix}:gens"
        self._retired_key = f"{prefix}:retired"
        self._lock_key = f"{prefix}:lock"
        self._pointer: tuple[float, str | None] = (0.0, None)
        self._timers: list[threading.Timer] = []

    # -- names ---------------------------------------------------------------
    def bucket_base(self, generation: str) -> bytes:
        return f"{self.prefix}:g:{generation}:".encode()

    def meta_key(self, generation: str) -> str:
        return f"{self.prefix}:meta:{generation}"

    # -- reading -------------------------------------------------------------
    def lookup(self, hashes: Sequence[int]) -> tuple[str | None, list[tuple[int, ...]]]:
        """One pipeline (one round trip per node); a second one only after a reload."""
        parts = [split_hash(h) for h in hashes]
        generation = self._pointer[1]
        for _attempt in range(3):
            if generation is None:
                generation = self._read_pointer()
                if generation is None:
                    return None, [() for _ in hashes]
            base = self.bucket_base(generation)
            started = time.monotonic()
            with self.guard():
                pipe = self.client.pipeline()
                pipe.get(self._active_key)
                for bucket, field in parts:
                    pipe.hget(base + bucket, field)
                reply = pipe.execute()
            active = _text(reply[0])
            self._pointer = (time.monotonic(), active)
            if active == generation and time.monotonic() - started < self.grace / 2:
                return generation, [decode_ids(v) for v in reply[1:]]
            generation = active  # switched meanwhile (or too slow to trust): redo
        raise StoreUnavailable("list generation changed repeatedly during one lookup")

    def _read_pointer(self) -> str | None:
        with self.guard():
            generation = _text(self.client.get(self._active_key))
        self._pointer = (time.monotonic(), generation)
        return generation

    def current_generation(self) -> str | None:
        at, generation = self._pointer
        if self.pointer_ttl > 0 and time.monotonic() - at < self.pointer_ttl:
            return generation
        return self._read_pointer()

    # -- writing -------------------------------------------------------------
    def new_generation(self) -> _ClusterWriter:
        return _ClusterWriter(self)

    def drop_generation(self, generation: str) -> None:
        """Delete every key of a generation.

        The bucket names are found with SCAN on every master rather than
        enumerated (all 32,768, as RedisStore does): a cluster UNLINK must stay in
        one slot, so enumerating costs 32,768 commands even for a small list.
        Deleted one key per command, grouped by node in pipelines.
        """
        client = self.write_client
        pattern = _glob_escape(self.bucket_base(generation)) + b"*"
        pipe = client.pipeline()
        queued = 0
        for key in client.scan_iter(match=pattern, count=5000):
            pipe.unlink(key)
            queued += 1
            if queued >= _DROP_BATCH:
                pipe.execute()
                pipe, queued = client.pipeline(), 0
        pipe.execute()
        client.delete(self.meta_key(generation))
        client.srem(self._gens_key, generation)
        client.hdel(self._retired_key, generation)

    def generations(self) -> list[str]:
        with self.guard():
            return sorted(_text(g) or "" for g in self.write_client.smembers(self._gens_key))

    def drop_later(self, generation: str) -> None:
        """Delete a replaced generation once ``grace`` has passed (non-daemon timer:
        a loading process waits for it before it exits)."""
        if self.grace <= 0:
            self._drop_quietly(generation)
            return
        timer = threading.Timer(self.grace, self._drop_quietly, args=(generation,))
        timer.name = f"icapfilter-drop-{generation}"
        self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def wait_for_drops(self, timeout: float | None = None) -> None:
        """Wait for the delayed deletes started by this store (tests, tools)."""
        for timer in list(self._timers):
            timer.join(timeout)

    def _drop_quietly(self, generation: str) -> None:
        try:
            if _text(self.write_client.get(self._active_key)) != generation:
                self.drop_generation(generation)
        except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
            pass  # the next load removes it

    def _release(self, token: str) -> None:
        """Delete the lock only if it is still ours (it may have expired and been
        taken by another load); a one-key script is allowed on a cluster."""
        try:
            self.write_client.eval(_RELEASE, 1, self._lock_key, token)
        except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
            pass  # expires by itself


class _ClusterWriter:
    """Writes a generation in bulk: one HSET per bucket, ``pipeline_size`` per pipeline
    (redis-py sends each pipeline as one batch per node)."""

    def __init__(self, store: ClusterStore) -> None:
        self.generation = new_generation_id()
        self._store = store
        self._token = secrets.token_hex(8)
        client = store.write_client
        with store.guard():
            if not client.set(store._lock_key, self._token, nx=True, ex=LOCK_SECONDS):
                raise LoadError("another list load is in progress (lock held in Redis)")
            try:
                self._drop_leftovers()
                client.sadd(store._gens_key, self.generation)
            except BaseException:
                store._release(self._token)
                raise

    def _drop_leftovers(self) -> None:
        """Generations neither active nor within their grace: crashed loads, or replaced
        ones whose delayed delete did not run."""
        store = self._store
        client = store.write_client
        active = _text(client.get(store._active_key))
        retired = {_text(k): float(v) for k, v in client.hgetall(store._retired_key).items()}
        now = time.time()
        for stale in store.generations():
            if stale != active and now - retired.get(stale, 0.0) >= store.grace:
                store.drop_generation(stale)

    def write(self, table: Mapping[int, Ids], progress: Progress | None = None) -> None:
        store = self._store
        base = store.bucket_base(self.generation)
        total = len(table)
        done = 0
        buckets: dict[bytes, dict[bytes, bytes]] = {}
        for h in sorted(table):
            b, field = split_hash(h)
            buckets.setdefault(b, {})[field] = encode_ids(table[h])
        with store.guard():
            pipe = store.write_client.pipeline()
            queued = 0
            for b, fields in buckets.items():
                pipe.hset(base + b, mapping=fields)  # type: ignore[arg-type]
                queued += 1
                done += len(fields)
                if queued >= store.pipeline_size:
                    pipe.expire(store._lock_key, LOCK_SECONDS)
                    pipe.execute()
                    pipe = store.write_client.pipeline()
                    queued = 0
                    if progress:
                        progress("write", done, total)
            pipe.execute()
        if progress:
            progress("write", done, total)

    def commit(self, info: GenerationInfo) -> None:
        store = self._store
        client = store.write_client
        with store.guard():  # a failure here: the loader aborts, the old generation stays
            client.set(store.meta_key(self.generation), info.to_json())
            old = _text(client.set(store._active_key, self.generation, get=True))
        store._forget_pointer()
        replaced = old if old and old != self.generation else None
        try:
            if replaced:
                client.hset(store._retired_key, replaced, repr(time.time()))
        except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
            pass  # switched already; unmarked, the next load drops it without grace
        finally:
            store._release(self._token)
        if replaced:
            store.drop_later(replaced)

    def abort(self) -> None:
        try:
            self._store.drop_generation(self.generation)
        except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
            pass  # the next load removes it
        self._store._release(self._token)
