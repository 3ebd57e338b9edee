"""The connection manager starts its whole thread pool at once."""

from __future__ import annotations

import threading

from icapfilter.server.connections import ConnectionManager


def pool_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("icap_"))


def test_every_pool_thread_exists_before_the_first_connection():
    before = pool_threads()
    manager = ConnectionManager(threads=6, max_connections=10, idle_timeout=60,
                                overload_reply=lambda: b"")
    try:
        assert pool_threads() - before == 6
    finally:
        manager.shutdown(drain_timeout=1)
