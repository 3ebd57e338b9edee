"""The list store on one Redis (or a primary with replicas): one lookup, one script.

A lookup is one ``EVALSHA``: the script reads ``P:active`` and does every
HGET in the same atomic step, so it can never mix generations nor see one
being deleted. The bucket key names are computed in the script, which is
fine on a single Redis or a replica set but not on Redis Cluster
(:mod:`icapfilter.redisstore.cluster`).

The old generation is deleted right after the switch (no grace time): the
script makes that safe. Generations left behind by a crashed load are
removed when the next load starts. Scripts are run with ``register_script``,
which reloads them by itself after a restart emptied the script cache
(``NOSCRIPT``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import redis

from icapfilter.redisstore.base import LockedWriter, RedisListStore, text
from icapfilter.redisstore.client import redis_client
from icapfilter.redisstore.failfast import unavailable
from icapfilter.urls.hashing import BUCKET_BITS, split_hash
from icapfilter.urls.model import GenerationInfo, Ids, Progress, decode_ids, encode_ids

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

_ALL_BUCKETS = 1 << BUCKET_BITS  # every bucket name a generation can use


class RedisStore(RedisListStore):
    """A ListStore on one Redis.

    Every lookup that goes to Redis refreshes the pointer cache, so a reload
    done elsewhere is seen by cached decisions within ``pointer_ttl`` seconds,
    and by uncached ones at once. Options: see :class:`RedisListStore`.
    """

    def __init__(self, client_or_url: redis.Redis | str, **options: Any) -> None:
        super().__init__(client_or_url, **options)
        self._lookup = self.client.register_script(_LOOKUP)

    def _connect(self, url: str, timeout: float,
                 write_timeout: float) -> tuple[redis.Redis, redis.Redis]:
        return (redis_client(url, timeout=timeout),
                redis_client(url, timeout=write_timeout, connect_timeout=write_timeout))

    def writing(self) -> AbstractContextManager[None]:
        return unavailable()

    def lookup(self, hashes: Sequence[int]) -> tuple[str | None, list[tuple[int, ...]]]:
        args: list[bytes] = [f"{self.prefix}:g:".encode()]
        for h in hashes:
            args.extend(split_hash(h))
        with self.guard():
            reply = self._lookup(keys=[self.active_key], args=args)
        generation = text(reply[0]) if reply and reply[0] else None
        self._pointer = (time.monotonic(), generation)
        if generation is None:
            return None, [() for _ in hashes]
        return generation, [decode_ids(v) for v in reply[1:]]

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
        pipe.srem(self.gens_key, generation)
        pipe.execute()


def _send(conn: redis.connection.AbstractConnection, parts: list[bytes]) -> None:
    """Send packed commands and read every reply; an error reply raises."""
    commands = sum(1 for part in parts if part[:1] == b"*")
    send: Callable[[list[bytes]], None] = conn.send_packed_command  # unannotated in redis-py
    send([b"".join(parts)])
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
        reply = client.config_get("hash-max-listpack-entries").get("hash-max-listpack-entries")
        current = 128 if reply is None else int(reply)
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


class _RedisWriter(LockedWriter):
    """Writes a generation in bulk: one HSET per bucket, ``pipeline_size`` per round trip."""

    _store: RedisStore

    def write(self, table: Mapping[int, Ids], progress: Progress | None = None) -> None:
        """One HSET per bucket with all its fields, sent as raw RESP in batches.

        redis-py's command builder is as slow as parsing the lists for this
        many fields; the protocol bytes are simple enough to build directly
        (bulk strings are length-prefixed, so any field bytes are safe).
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
        lock = store.lock_key.encode()
        seconds = store.lock_seconds
        refresh = b"*3\r\n$6\r\nEXPIRE\r\n$%d\r\n%b\r\n$%d\r\n%d\r\n" % (
            len(lock), lock, len(str(seconds)), seconds)
        with unavailable():
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
        with unavailable():
            client.set(store.meta_key(self.generation), info.to_json())
            old = text(client.set(store.active_key, self.generation, get=True))
        store.forget_pointer()
        try:
            if old and old != self.generation:
                store.drop_generation(old)
        except redis.exceptions.RedisError:
            pass  # switched already; the next load removes the leftovers
        finally:
            self._release()
