"""The list store on a Redis Cluster: the lists spread over the masters.

Same layout and semantics as the single-node store
(:mod:`icapfilter.redisstore.base`), with one more key::

    P:g:<gen>:<2 bytes>      -> no hash tag, so the 32,768 bucket names spread
                                over every slot and master
    P:retired                -> HASH  <gen> -> unix time it stopped being active

Why not the single-node store's Lua lookup: a script may only touch keys of
one slot, and the point of a cluster is that the buckets are *not* in one
slot. So a lookup is one cluster pipeline instead: ``GET P:active`` plus one
``HGET`` per candidate in the generation the store saw last. redis-py groups a
pipeline's commands by node, writes every node's batch, then reads the
replies: one round trip per node at most, nodes in parallel.

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
retired less than ``grace`` ago, as the single-node store does with leftovers.

Faults are handled as on a single node (short socket timeouts, one immediate
retry of a dropped connection, :class:`ClusterFailFast`); the cluster client is
only built on first use, so a cluster that is down when the server starts gives
``[store] on_error`` answers, not a server that cannot start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis.cluster import RedisCluster

from icapfilter.redisstore.base import LockedWriter, RedisListStore, text
from icapfilter.redisstore.client import LazyClient, cluster_client, parse_cluster_url
from icapfilter.redisstore.failfast import ERRORS, ClusterFailFast
from icapfilter.urls.errors import StoreUnavailable
from icapfilter.urls.hashing import split_hash
from icapfilter.urls.model import GenerationInfo, Ids, Progress, decode_ids, encode_ids

GRACE = 5.0
"""Seconds a replaced generation stays readable (see the module docstring)."""
_DROP_BATCH = 4096


def _glob_escape(value: bytes) -> bytes:
    """A prefix as a literal in a SCAN MATCH pattern."""
    for special in (b"\\", b"*", b"?", b"[", b"]"):
        value = value.replace(special, b"\\" + special)
    return value


class ClusterStore(RedisListStore):
    """A ListStore on a Redis Cluster; same contract and semantics as RedisStore.

    :meth:`lookup` does not wait for ``pointer_ttl``: it always uses the
    generation seen last and re-checks the pointer in the same pipeline (module
    docstring), so an uncached decision sees a reload at once. ``grace``:
    seconds a replaced generation stays readable; 0 deletes at once and is only
    safe with a single lookup client (tests). Other options: see
    :class:`RedisListStore`.
    """

    guard_type = ClusterFailFast
    default_pipeline_size = 500

    def __init__(self, client_or_url: RedisCluster | str, *, grace: float = GRACE,
                 **options: Any) -> None:
        super().__init__(client_or_url, **options)
        self.grace = grace
        self.retired_key = f"{self.prefix}:retired"
        self._timers: list[threading.Timer] = []

    def _connect(self, url: str, timeout: float, write_timeout: float) -> tuple[Any, Any]:
        parse_cluster_url(url)  # a malformed URL fails now, not on the first request
        return (LazyClient(lambda: cluster_client(url, timeout=timeout)),
                LazyClient(lambda: cluster_client(url, timeout=write_timeout,
                                                  connect_timeout=write_timeout)))

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
                pipe.get(self.active_key)
                for bucket, field in parts:
                    pipe.hget(base + bucket, field)
                reply = pipe.execute()
            active = text(reply[0])
            self._pointer = (time.monotonic(), active)
            if active == generation and time.monotonic() - started < self.grace / 2:
                return generation, [decode_ids(v) for v in reply[1:]]
            generation = active  # switched meanwhile (or too slow to trust): redo
        raise StoreUnavailable("list generation changed repeatedly during one lookup")

    # -- writing -------------------------------------------------------------
    def new_generation(self) -> _ClusterWriter:
        return _ClusterWriter(self)

    def drop_generation(self, generation: str) -> None:
        """Delete every key of a generation.

        The bucket names are found with SCAN on every master rather than
        enumerated (all 32,768, as the single-node store does): a cluster UNLINK
        must stay in one slot, so enumerating costs 32,768 commands even for a
        small list. Deleted one key per command, grouped by node in pipelines.
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
        client.srem(self.gens_key, generation)
        client.hdel(self.retired_key, generation)

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
            if text(self.write_client.get(self.active_key)) != generation:
                self.drop_generation(generation)
        except ERRORS:
            pass  # the next load removes it


class _ClusterWriter(LockedWriter):
    """Writes a generation in bulk: one HSET per bucket, ``pipeline_size`` per pipeline
    (redis-py sends each pipeline as one batch per node)."""

    _store: ClusterStore

    def _drop_leftovers(self) -> None:
        """Generations neither active nor within their grace: crashed loads, or replaced
        ones whose delayed delete did not run."""
        store = self._store
        client = store.write_client
        active = text(client.get(store.active_key))
        retired = {text(k): float(v) for k, v in client.hgetall(store.retired_key).items()}
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
                pipe.hset(base + b, mapping=fields)
                queued += 1
                done += len(fields)
                if queued >= store.pipeline_size:
                    pipe.expire(store.lock_key, store.lock_seconds)
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
            old = text(client.set(store.active_key, self.generation, get=True))
        store.forget_pointer()
        replaced = old if old and old != self.generation else None
        try:
            if replaced:
                client.hset(store.retired_key, replaced, repr(time.time()))
        except ERRORS:
            pass  # switched already; unmarked, the next load drops it without grace
        finally:
            self._release()
        if replaced:
            store.drop_later(replaced)
