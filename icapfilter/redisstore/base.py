"""What the single-node and the cluster list stores share.

Layout (``P`` is the prefix, default ``icapfilter:bl``)::

    P:active                 -> generation id (the one atomic switch)
    P:g:<gen>:<2 bytes>      -> HASH  <6 bytes> -> "3" or "3,17"  (category ids; 15-bit buckets)
    P:meta:<gen>             -> JSON GenerationInfo (categories, counts, sources)
    P:gens                   -> SET of generations present (active or being written)
    P:lock                   -> token of the running load (expires, refreshed while writing)

Both stores keep this layout, the pointer cache behind
``current_generation``, the load lock and the writers' life cycle (lock,
drop leftovers, write, commit or abort); they differ in how a lookup stays
consistent and how a replaced generation is deleted.
"""

from __future__ import annotations

import secrets
import time
from contextlib import AbstractContextManager
from typing import Any

from icapfilter.redisstore.client import READ_TIMEOUT, WRITE_TIMEOUT
from icapfilter.redisstore.failfast import ERRORS, FailFast
from icapfilter.urls.errors import LoadError
from icapfilter.urls.model import GenerationInfo, new_generation_id

# Short, because a crashed loader must not block reloads for long; a running
# load refreshes it with every batch it writes (a batch takes well under a second).
LOCK_SECONDS = 60

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
"""Deletes the load lock only if it still holds our token (it may have expired and
been taken by another load); a one-key script, so a cluster accepts it too."""


def text(value: bytes | str | None) -> str | None:
    """A reply as text (clients may or may not decode responses)."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


class RedisListStore:
    """A ListStore in Redis: the part that does not depend on single node or cluster.

    Given a URL, reads use a client with ``timeout`` seconds at most and bulk
    writes a second client with ``write_timeout``; given a client, both use it
    as it is. ``guard`` maps redis-py errors to StoreUnavailable; the server
    passes ``fault_backoff`` (:data:`~icapfilter.redisstore.failfast.FAULT_BACKOFF`)
    so that it also fails fast, and the learned cache and rate limiter built
    for this store share it. ``pointer_ttl`` is how long
    :meth:`current_generation` may answer from its cache.
    """

    guard_type: type[FailFast] = FailFast
    default_pipeline_size = 200
    lock_seconds = LOCK_SECONDS

    def __init__(
        self,
        client_or_url: Any,
        *,
        prefix: str = "icapfilter:bl",
        pointer_ttl: float = 1.0,
        pipeline_size: int | None = None,
        timeout: float = READ_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
        fault_backoff: float = 0.0,
    ) -> None:
        if isinstance(client_or_url, str):
            self.client, self.write_client = self._connect(client_or_url, timeout, write_timeout)
        else:
            self.client = self.write_client = client_or_url
        self.guard = self.guard_type(fault_backoff)
        self.prefix = prefix
        self.pointer_ttl = pointer_ttl
        self.pipeline_size = self.default_pipeline_size if pipeline_size is None else pipeline_size
        self.active_key = f"{prefix}:active"
        self.gens_key = f"{prefix}:gens"
        self.lock_key = f"{prefix}:lock"
        self._pointer: tuple[float, str | None] = (0.0, None)

    def _connect(self, url: str, timeout: float, write_timeout: float) -> tuple[Any, Any]:
        """The read client and the bulk-write client for ``url``."""
        raise NotImplementedError

    def writing(self) -> AbstractContextManager[None]:
        """The error mapping around a load's commands."""
        return self.guard()

    # -- names ---------------------------------------------------------------
    def bucket_base(self, generation: str) -> bytes:
        return f"{self.prefix}:g:{generation}:".encode()

    def meta_key(self, generation: str) -> str:
        return f"{self.prefix}:meta:{generation}"

    # -- reading -------------------------------------------------------------
    def _read_pointer(self) -> str | None:
        with self.guard():
            generation = text(self.client.get(self.active_key))
        self._pointer = (time.monotonic(), generation)
        return generation

    def current_generation(self) -> str | None:
        at, generation = self._pointer
        if self.pointer_ttl > 0 and time.monotonic() - at < self.pointer_ttl:
            return generation
        return self._read_pointer()

    def info(self, generation: str | None = None) -> GenerationInfo | None:
        with self.guard():
            if generation is None:
                generation = text(self.client.get(self.active_key))
                if generation is None:
                    return None
            raw = self.client.get(self.meta_key(generation))
        return GenerationInfo.from_json(raw) if raw else None

    def forget_pointer(self) -> None:
        """After this process switched generations: the next read asks Redis."""
        self._pointer = (0.0, None)

    # -- writing -------------------------------------------------------------
    def generations(self) -> list[str]:
        with self.writing():
            return sorted(text(g) or "" for g in self.write_client.smembers(self.gens_key))

    def drop_generation(self, generation: str) -> None:
        """Delete every key of a generation."""
        raise NotImplementedError

    def release_lock(self, token: str) -> None:
        """Delete the load lock if it is still ours; never raises (it expires by itself)."""
        try:
            self.write_client.eval(RELEASE, 1, self.lock_key, token)
        except ERRORS:
            pass


class LockedWriter:
    """A generation being written under the store's load lock.

    Taking the lock also removes what earlier loads left behind (see
    :meth:`_drop_leftovers`) and registers the new generation, so a crash
    from here on leaves nothing the next load does not clean.
    """

    def __init__(self, store: RedisListStore) -> None:
        self.generation = new_generation_id()
        self._store = store
        self._token = secrets.token_hex(8)
        client = store.write_client
        with store.writing():
            if not client.set(store.lock_key, self._token, nx=True, ex=store.lock_seconds):
                raise LoadError("another list load is in progress (lock held in Redis)")
            try:
                self._drop_leftovers()
                client.sadd(store.gens_key, self.generation)
            except BaseException:
                self._release()
                raise

    def _drop_leftovers(self) -> None:
        """Generations a crashed load left behind (every one but the active one)."""
        store = self._store
        active = text(store.write_client.get(store.active_key))
        for stale in store.generations():
            if stale != active:
                store.drop_generation(stale)

    def abort(self) -> None:
        try:
            self._store.drop_generation(self.generation)
        except ERRORS:
            pass  # the next load removes it
        self._release()

    def _release(self) -> None:
        self._store.release_lock(self._token)
