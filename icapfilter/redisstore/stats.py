"""Statistics snapshots in Redis: one expiring hash per worker, summed fleet-wide."""

from __future__ import annotations

from collections.abc import Callable

from redis.typing import EncodableT, FieldT

from icapfilter.redisstore.client import redis_client
from icapfilter.redisstore.failfast import unavailable

PREFIX = "icapfilter:stats:"


def stats_sink(url: str, ttl: int) -> Callable[[str, dict[str, float]], None]:
    """Writes a worker's snapshot as the hash ``PREFIX + name``, replaced whole,
    expiring ``ttl`` seconds after its last write (so a dead worker drops out)."""
    client = redis_client(url)

    def write(name: str, data: dict[str, float]) -> None:
        key = PREFIX + name
        with unavailable():
            pipe = client.pipeline(transaction=True)
            pipe.delete(key)
            if data:
                # a copy with the key type redis-py declares (dict keys are invariant)
                fields: dict[FieldT, EncodableT] = {k: v for k, v in data.items()}
                pipe.hset(key, mapping=fields)
            pipe.expire(key, ttl)
            pipe.execute()

    return write


def collect_stats(url: str) -> tuple[int, dict[str, float]]:
    """How many workers have a live snapshot, and their counters summed."""
    client = redis_client(url)
    total: dict[str, float] = {}
    count = 0
    with unavailable():
        for key in client.scan_iter(match=PREFIX + "*", count=100):
            data = client.hgetall(key)
            if not data:
                continue
            count += 1
            for name, value in data.items():
                name = name.decode() if isinstance(name, bytes) else name
                total[name] = total.get(name, 0.0) + float(value)
    return count, total
