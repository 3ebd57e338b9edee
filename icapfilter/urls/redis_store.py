"""Redis store: one list shared by every filter server.

Layout (``P`` is the prefix, default ``icapfilter:bl``)::

    P:active                 -> generation id (the one atomic switch)
    P:g:<gen>:<2 bytes>      -> HASH  <6 bytes> -> "3" or "3,17"  (category ids)
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
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import redis

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

LOCK_SECONDS = 900
_ALL_BUCKETS = 1 << 16


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


class RedisStore:
    """A ListStore in Redis.

    ``pointer_ttl`` is how long :meth:`current_generation` may answer from its
    cache (the engine uses it to key its decision cache). Every lookup that
    goes to Redis refreshes it, so a reload done elsewhere is seen by cached
    decisions within ``pointer_ttl`` seconds, and by uncached ones at once.
    """

    def __init__(
        self,
        client_or_url: redis.Redis | str,
        *,
        prefix: str = "icapfilter:bl",
        pointer_ttl: float = 1.0,
        pipeline_size: int = 200,
    ) -> None:
        if isinstance(client_or_url, str):
            client_or_url = redis.Redis.from_url(client_or_url)
        self.client: redis.Redis = client_or_url
        self.prefix = prefix
        self.pointer_ttl = pointer_ttl
        self.pipeline_size = pipeline_size
        self._active_key = f"{prefix}:active"
        self._gens_key = f"{prefix}:gens"
        self._lock_key = f"{prefix}:lock"
        self._lookup = self.client.register_script(_LOOKUP)
        self._release = self.client.register_script(_RELEASE)
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
        with _unavailable():
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
        with _unavailable():
            generation = _text(self.client.get(self._active_key))
        self._pointer = (time.monotonic(), generation)
        return generation

    def info(self, generation: str | None = None) -> GenerationInfo | None:
        with _unavailable():
            if generation is None:
                generation = _text(self.client.get(self._active_key))
                if generation is None:
                    return None
            raw = self.client.get(self.meta_key(generation))
        return GenerationInfo.from_json(raw) if raw else None

    # -- writing -------------------------------------------------------------
    def new_generation(self) -> _RedisWriter:
        return _RedisWriter(self)

    def _forget_pointer(self) -> None:
        self._pointer = (0.0, None)

    def drop_generation(self, generation: str) -> None:
        """Delete every key of a generation (all 65,536 bucket names, no SCAN needed)."""
        base = self.bucket_base(generation)
        pipe = self.client.pipeline(transaction=False)
        batch = 1024
        for start in range(0, _ALL_BUCKETS, batch):
            pipe.unlink(*(base + b.to_bytes(2, "big") for b in range(start, start + batch)))
        pipe.delete(self.meta_key(generation))
        pipe.srem(self._gens_key, generation)
        pipe.execute()

    def generations(self) -> list[str]:
        with _unavailable():
            return sorted(_text(g) or "" for g in self.client.smembers(self._gens_key))


class _RedisWriter:
    """Writes a generation in bulk: one HSET per bucket, ``pipeline_size`` per round trip."""

    def __init__(self, store: RedisStore) -> None:
        self.generation = new_generation_id()
        self._store = store
        self._token = secrets.token_hex(8)
        client = store.client
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
        store = self._store
        base = store.bucket_base(self.generation)
        total = len(table)
        done = 0
        with _unavailable():
            pipe = store.client.pipeline(transaction=False)
            queued = 0
            bucket, prev = -1, b""
            fields: dict[bytes, bytes] = {}
            for h in sorted(table):
                b, field = split_hash(h)
                if h >> 48 != bucket:
                    if fields:
                        pipe.hset(base + prev, mapping=fields)  # type: ignore[arg-type]
                        queued += 1
                        done += len(fields)
                        fields = {}
                    if queued >= store.pipeline_size:
                        pipe.expire(store._lock_key, LOCK_SECONDS)
                        pipe.execute()
                        queued = 0
                        if progress:
                            progress("write", done, total)
                    bucket, prev = h >> 48, b
                fields[field] = encode_ids(table[h])
            if fields:
                pipe.hset(base + prev, mapping=fields)  # type: ignore[arg-type]
                done += len(fields)
            pipe.execute()
        if progress:
            progress("write", done, total)

    def commit(self, info: GenerationInfo) -> None:
        store = self._store
        client = store.client
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
