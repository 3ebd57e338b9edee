"""Redis store: one list shared by every filter server.

Layout (``P`` is the prefix, default ``icapfilter:bl``)::

    P:active                 -> generation id (the one atomic switch)
    P:g:<gen>:<2 bytes>      -> HASH  <6 bytes> -> "3" or "3,17"  (category ids; 15-bit buckets)
    P:meta:<gen>             -> JSON GenerationInfo (categories, counts, sources)
    P:gens                   -> SET of generations present (active or being written)
    P:lock                   -> token of the running load (expires, refreshed while writing)

A lookup is one ``EVALSHA``: the script reads ``P:active`` and does every
HGET in the same atomic step, so it can never mix generations nor see one
being deleted. The bucket key names are computed in the script, which is
fine on a single Redis or a replica set but not on Redis Cluster.

The old generation is deleted right after the switch (no grace time): the
script makes that safe. Generations left behind by a crashed load are
removed when the next load starts.

Faults: a filter thread must never wait on Redis for longer than a short
socket timeout, so a client built here from a URL reads with
``READ_TIMEOUT``/``CONNECT_TIMEOUT`` (a ``?socket_timeout=`` in the URL wins),
retries a dropped connection once at once (a stale pooled connection after a
Redis restart), and pings connections idle for ``HEALTH_CHECK_INTERVAL``.
Every redis-py error becomes :class:`StoreUnavailable` (the policy applies
``[store] on_error``), and :class:`FailFast` stops paying a timeout per call
while Redis is gone. Scripts are run with ``register_script``, which reloads
them by itself after a restart emptied the script cache (``NOSCRIPT``).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from icapfilter.urls.errors import LoadError, StoreUnavailable
from icapfilter.urls.hashing import BUCKET_BITS, split_hash
from icapfilter.urls.model import (
    GenerationInfo,
    Ids,
    Progress,
    decode_ids,
    encode_ids,
    new_generation_id,
)

log = logging.getLogger("icapfilter.lists")

_LOOKUP = """
local gen = redis.call('GET', KEYS[1])
if not gen then return {false} end
local base = ARGV[1] .. gen .. ':'
local out = {gen}
for i = 2, #ARGV, 2 do
  out[#out + 1] = redis.call('HGET', base .. ARGV[i], ARGV[i + 1])
end
return out
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Short, because a crashed loader must not block reloads for long; a running
# load refreshes it with every batch it writes (a batch takes well under a second).
LOCK_SECONDS = 60
_ALL_BUCKETS = 1 << BUCKET_BITS  # every bucket name a generation can use

READ_TIMEOUT = 0.5
"""Seconds a lookup waits for Redis: a decision is late by at most this much."""
CONNECT_TIMEOUT = 0.5
WRITE_TIMEOUT = 30.0
"""Seconds a bulk list load waits per round trip: a busy Redis must not fail a load."""
HEALTH_CHECK_INTERVAL = 10
FAULT_BACKOFF = 1.0
"""Seconds the server fails fast (:class:`FailFast`) after Redis stopped answering."""


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


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


@contextmanager
def _unavailable() -> Iterator[None]:
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
    default of a bare RedisStore: a one-shot command wants every call tried).
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


class _GenerationMeta:
    """What the plain and the cluster store share: generation info, pointer cache."""

    # provided by each store
    client: Any
    guard: Callable[[], Any]
    meta_key: Callable[[str], str]
    _active_key: str
    _pointer: tuple[float, str | None]

    def info(self, generation: str | None = None) -> GenerationInfo | None:
        with self.guard():
            if generation is None:
                generation = _text(self.client.get(self._active_key))
                if generation is None:
                    return None
            raw = self.client.get(self.meta_key(generation))
        return GenerationInfo.from_json(raw) if raw else None

    def _forget_pointer(self) -> None:
        self._pointer = (0.0, None)


class RedisStore(_GenerationMeta):
    """A ListStore in Redis.

    ``pointer_ttl`` is how long :meth:`current_generation` may answer from its
    cache (the engine uses it to key its decision cache). Every lookup that
    goes to Redis refreshes it, so a reload done elsewhere is seen by cached
    decisions within ``pointer_ttl`` seconds, and by uncached ones at once.

    Given a URL, reads use :func:`redis_client` (``timeout`` seconds at most)
    and bulk writes a second client with ``write_timeout``; given a client,
    both use it as it is. ``guard`` maps redis-py errors to StoreUnavailable;
    the server passes ``fault_backoff`` (:data:`FAULT_BACKOFF`) so that it also
    fails fast, and shares it with the learned cache and the rate limiter.
    """

    def __init__(
        self,
        client_or_url: redis.Redis | str,
        *,
        prefix: str = "icapfilter:bl",
        pointer_ttl: float = 1.0,
        pipeline_size: int = 200,
        timeout: float = READ_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
        fault_backoff: float = 0.0,
    ) -> None:
        if isinstance(client_or_url, str):
            self.client: redis.Redis = redis_client(client_or_url, timeout=timeout)
            self.write_client: redis.Redis = redis_client(client_or_url, timeout=write_timeout,
                                                          connect_timeout=write_timeout)
        else:
            self.client = self.write_client = client_or_url
        self.guard = FailFast(fault_backoff)
        self.prefix = prefix
        self.pointer_ttl = pointer_ttl
        self.pipeline_size = pipeline_size
        self._active_key = f"{prefix}:active"
        self._gens_key = f"{prefix}:gens"
        self._lock_key = f"{prefix}:lock"
        self._lookup = self.client.register_script(_LOOKUP)
        self._release = self.write_client.register_script(_RELEASE)
        self._pointer: tuple[float, str | None] = (0.0, None)

    # -- names ---------------------------------------------------------------
    def bucket_base(self, generation: str) -> bytes:
        return f"{self.prefix}:g:{generation}:".encode()

    def meta_key(self, generation: str) -> str:
        return f"{self.prefix}:meta:{generation}"

    # -- reading -------------------------------------------------------------
    def lookup(self, hashes: Sequence[int]) -> tuple[str | None, list[tuple[int, ...]]]:
        args: list[bytes] = [f"{self.prefix}:g:".encode()]
        for h in hashes:
            args.extend(split_hash(h))
        with self.guard():
            reply = self._lookup(keys=[self._active_key], args=args)
        generation = _text(reply[0]) if reply and reply[0] else None
        self._pointer = (time.monotonic(), generation)
        if generation is None:
            return None, [() for _ in hashes]
        return generation, [decode_ids(v) for v in reply[1:]]

    def current_generation(self) -> str | None:
        at, generation = self._pointer
        if self.pointer_ttl > 0 and time.monotonic() - at < self.pointer_ttl:
            return generation
        with self.guard():
            generation = _text(self.client.get(self._active_key))
        self._pointer = (time.monotonic(), generation)
        return generation

    # -- writing -------------------------------------------------------------
    def new_generation(self) -> _RedisWriter:
        return _RedisWriter(self)

    def drop_generation(self, generation: str) -> None:
        """Delete every key of a generation (all 32,768 bucket names, no SCAN needed)."""
        base = self.bucket_base(generation)
        pipe = self.write_client.pipeline(transaction=False)
        batch = 1024
        for start in range(0, _ALL_BUCKETS, batch):
            pipe.unlink(*(base + b.to_bytes(2, "big") for b in range(start, start + batch)))
        pipe.delete(self.meta_key(generation))
        pipe.srem(self._gens_key, generation)
        pipe.execute()

    def generations(self) -> list[str]:
        with _unavailable():
            return sorted(_text(g) or "" for g in self.write_client.smembers(self._gens_key))


def _send(conn: redis.connection.AbstractConnection, parts: list[bytes]) -> None:
    """Send packed commands and read every reply; an error reply raises."""
    commands = sum(1 for part in parts if part[:1] == b"*")
    conn.send_packed_command([b"".join(parts)])
    for _ in range(commands):
        reply = conn.read_response()
        if isinstance(reply, redis.exceptions.ResponseError):
            raise reply


def _keep_buckets_compact(client: redis.Redis, table: Mapping[int, Ids]) -> None:
    """Make sure every bucket fits Redis's compact hash encoding before writing.

    A hash with more fields than ``hash-max-listpack-entries`` (128 by default)
    turns into a real hash table for good, several times bigger. At 15 bucket
    bits that happens past roughly 2.5 million entries; then the limit is
    raised if the server allows CONFIG, or a warning says what to set.
    """
    sizes = Counter(split_hash(h)[0] for h in table)
    largest = max(sizes.values(), default=0)
    try:
        current = int(client.config_get("hash-max-listpack-entries").get(
            "hash-max-listpack-entries", 128))
    except (redis.exceptions.RedisError, ValueError):
        current = 128
    if largest <= current:
        return
    wanted = 1 << (largest - 1).bit_length()
    try:
        client.config_set("hash-max-listpack-entries", wanted)
        log.warning("raised hash-max-listpack-entries from %d to %d so list buckets stay "
                    "compact; put it in redis.conf to keep it", current, wanted)
    except redis.exceptions.RedisError as exc:
        log.warning("list buckets hold up to %d entries, over hash-max-listpack-entries=%d, "
                    "and CONFIG SET failed (%s): set hash-max-listpack-entries %d in "
                    "redis.conf, or memory per entry grows several times", largest, current,
                    exc, wanted)


class _RedisWriter:
    """Writes a generation in bulk: one HSET per bucket, ``pipeline_size`` per round trip."""

    def __init__(self, store: RedisStore) -> None:
        self.generation = new_generation_id()
        self._store = store
        self._token = secrets.token_hex(8)
        client = store.write_client
        with _unavailable():
            if not client.set(store._lock_key, self._token, nx=True, ex=LOCK_SECONDS):
                raise LoadError("another list load is in progress (lock held in Redis)")
            try:
                active = _text(client.get(store._active_key))
                for stale in store.generations():
                    if stale != active:
                        store.drop_generation(stale)
                client.sadd(store._gens_key, self.generation)
            except BaseException:
                self._release()
                raise

    def write(self, table: Mapping[int, Ids], progress: Progress | None = None) -> None:
        """One HSET per bucket with all its fields, sent as raw RESP in batches.

        Packing two million fields through redis-py's command builder took as
        long as parsing the lists; the protocol bytes are simple enough to
        build directly (bulk strings are length-prefixed, so any field bytes
        are safe).
        """
        store = self._store
        base = store.bucket_base(self.generation)
        total = len(table)
        groups: dict[bytes, list[bytes]] = {}
        for h, ids in table.items():
            bucket, field = split_hash(h)
            value = encode_ids(ids)
            groups.setdefault(bucket, []).append(
                b"$6\r\n%b\r\n$%d\r\n%b\r\n" % (field, len(value), value))
        lock = store._lock_key.encode()
        refresh = b"*3\r\n$6\r\nEXPIRE\r\n$%d\r\n%b\r\n$%d\r\n%d\r\n" % (
            len(lock), lock, len(str(LOCK_SECONDS)), LOCK_SECONDS)
        with _unavailable():
            _keep_buckets_compact(store.write_client, table)
            pool = store.write_client.connection_pool
            conn = pool.get_connection()
            try:
                done = 0
                batch: list[bytes] = []
                for bucket, items in groups.items():
                    key = base + bucket
                    batch.append(b"*%d\r\n$4\r\nHSET\r\n$%d\r\n%b\r\n" % (
                        2 + 2 * len(items), len(key), key))
                    batch.extend(items)
                    done += len(items)
                    if len(batch) >= store.pipeline_size * 64:
                        _send(conn, batch + [refresh])
                        batch = []
                        if progress:
                            progress("write", done, total)
                if batch:
                    _send(conn, batch + [refresh])
            except BaseException:
                conn.disconnect()  # replies may be left unread: never reuse it
                raise
            finally:
                pool.release(conn)
        if progress:
            progress("write", total, total)

    def commit(self, info: GenerationInfo) -> None:
        store = self._store
        client = store.write_client
        with _unavailable():
            client.set(store.meta_key(self.generation), info.to_json())
            old = _text(client.set(store._active_key, self.generation, get=True))
        store._forget_pointer()
        try:
            if old and old != self.generation:
                store.drop_generation(old)
        except redis.exceptions.RedisError:
            pass  # switched already; the next load removes the leftovers
        finally:
            self._release()

    def abort(self) -> None:
        try:
            self._store.drop_generation(self.generation)
        except redis.exceptions.RedisError:
            pass  # the next load removes it
        self._release()

    def _release(self) -> None:
        try:
            self._store._release(keys=[self._store._lock_key], args=[self._token])
        except redis.exceptions.RedisError:
            pass  # expires by itself
