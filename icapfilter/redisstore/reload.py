"""Reload notifications: ``icapfilter reload`` tells a whole fleet at once through
Redis PUBLISH, and every worker listens on the channel."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from icapfilter.redisstore.client import redis_client
from icapfilter.redisstore.failfast import unavailable

log = logging.getLogger("icapfilter.server")

CHANNEL = "icapfilter:reload"


def publish_reload(url: str) -> int:
    """Ask every listening worker to reload; the number of workers told.

    Raises :class:`~icapfilter.urls.errors.StoreUnavailable` when Redis cannot be reached.
    """
    with unavailable():
        return int(redis_client(url).publish(CHANNEL, "reload"))


def listen_for_reload(url: str, stop: threading.Event, on_reload: Callable[[], None],
                      retry_seconds: float = 2.0) -> None:
    """Call ``on_reload`` for each notification until ``stop`` is set.

    Runs in its own thread; while Redis is down it retries every
    ``retry_seconds`` quietly, so a Redis outage never stops a worker.
    """
    while not stop.is_set():
        try:
            pubsub = redis_client(url).pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(CHANNEL)
            while not stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is not None:
                    log.info("reload requested through Redis")
                    on_reload()
        except Exception as exc:  # noqa: BLE001 - Redis down: retry quietly
            log.debug("reload listener: %s", exc)
            stop.wait(retry_seconds)
