"""Bounded concurrency: a fixed thread pool serving many persistent connections.

An idle persistent connection costs no thread: it waits in a selector, and
only a connection with bytes to read is handed to one of ``threads`` workers,
which serves one ICAP transaction and gives the connection back. The number
of open connections is capped; a connection over the cap is answered with
ICAP 503 at once (Squid then bypasses or fails over) instead of queueing
forever, which is how the Go original ran out of goroutines.
"""

from __future__ import annotations

import logging
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

log = logging.getLogger("icapfilter.server")


class Conn(Protocol):
    sock: socket.socket

    def serve_one(self) -> bool:
        """Serve one transaction; False when the connection must be closed."""

    def has_pending(self) -> bool: ...

    def close(self) -> None: ...


def _readable_soon(sock: socket.socket, timeout: float) -> bool:
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        ready = poller.poll(timeout * 1000)
    except (OSError, ValueError):
        return False
    return bool(ready)


class ConnectionManager:
    def __init__(
        self,
        threads: int,
        max_connections: int,
        idle_timeout: float,
        overload_reply: Callable[[], bytes],
    ) -> None:
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._overload_reply = overload_reply
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="icap")
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._open: set[Conn] = set()
        self._idle_since: dict[Conn, float] = {}
        self._returns: list[Conn] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopping = False
        self._busy = 0
        self.rejected = 0
        self.linger = 0.002
        self._thread = threading.Thread(target=self._loop, name="icap-selector", daemon=True)
        self._thread.start()
        self._start_pool(threads)

    def _start_pool(self, threads: int) -> None:
        """Start every pool thread now, not when a burst of traffic first needs it.

        ThreadPoolExecutor starts a thread only when none is idle, so the pool
        used to grow over the first minutes of traffic, about 1 MB of RSS per
        thread (its stack, and in glibc its own malloc arena): the soak saw
        RSS step up each time a busier moment started one more thread. The
        pool size is fixed by configuration, so its memory belongs to the start.
        """
        started = threading.Barrier(threads + 1)

        def wait() -> None:
            try:
                started.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass

        for _ in range(threads):  # each waits, so no thread is idle: a new one each time
            self._pool.submit(wait)
        try:
            started.wait(timeout=10)
        except threading.BrokenBarrierError:
            pass

    # -- public ------------------------------------------------------------

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._open)

    def add(self, conn: Conn) -> bool:
        """Take a new connection, or answer 503 and close it when over the cap."""
        with self._lock:
            accept = not self._stopping and len(self._open) < self.max_connections
            if accept:
                self._open.add(conn)
        if not accept:
            self.rejected += 1
            try:
                conn.sock.setblocking(False)
                conn.sock.send(self._overload_reply())
            except OSError:
                pass
            conn.close()
            return False
        self._give_back(conn)
        return True

    def shutdown(self, drain_timeout: float) -> None:
        """Stop taking work, let transactions in progress finish, close the rest."""
        with self._lock:
            self._stopping = True
        self._wake()
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._busy == 0:
                    break
            time.sleep(0.05)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            leftovers = list(self._open)
            self._open.clear()
        for conn in leftovers:
            conn.close()
        self._thread.join(timeout=2)
        if not self._thread.is_alive():
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    # -- internals -----------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _give_back(self, conn: Conn) -> None:
        with self._lock:
            self._returns.append(conn)
        self._wake()

    def _forget(self, conn: Conn) -> None:
        with self._lock:
            self._open.discard(conn)
            self._idle_since.pop(conn, None)
        conn.close()

    def _loop(self) -> None:
        next_sweep = time.monotonic() + 1.0
        while True:
            events = self._selector.select(timeout=1.0)
            now = time.monotonic()
            for key, _ in events:
                if key.data is None:
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except OSError:
                        pass
                    continue
                conn = key.data
                self._selector.unregister(conn.sock)
                with self._lock:
                    self._idle_since.pop(conn, None)
                    self._busy += 1
                self._submit(conn)
            with self._lock:
                returns, self._returns = self._returns, []
                stopping = self._stopping
            for conn in returns:
                if stopping:
                    self._forget(conn)
                    continue
                try:
                    self._selector.register(conn.sock, selectors.EVENT_READ, conn)
                except (ValueError, OSError):
                    self._forget(conn)
                    continue
                with self._lock:
                    self._idle_since[conn] = now
            if stopping:
                for key in list(self._selector.get_map().values()):
                    if key.data is not None:
                        self._selector.unregister(key.fileobj)
                        self._forget(key.data)
                with self._lock:
                    if self._busy == 0:
                        return
                continue
            if now >= next_sweep:
                next_sweep = now + 1.0
                self._sweep_idle(now)

    def _sweep_idle(self, now: float) -> None:
        with self._lock:
            expired = [c for c, t in self._idle_since.items() if now - t > self.idle_timeout]
        for conn in expired:
            try:
                self._selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            self._forget(conn)

    def _submit(self, conn: Conn) -> None:
        try:
            self._pool.submit(self._serve, conn)
        except RuntimeError:  # pool shut down
            with self._lock:
                self._busy -= 1
            self._forget(conn)

    def _serve(self, conn: Conn) -> None:
        keep = False
        try:
            keep = conn.serve_one()
            # Pipelined bytes already buffered: serve them now, the selector
            # would not wake up for data that was read already.
            # Under load the next message on a persistent connection follows at
            # once; waiting a moment for it saves the trip through the selector.
            while keep and not self._stopping and (
                    conn.has_pending() or _readable_soon(conn.sock, self.linger)):
                keep = conn.serve_one()
        except Exception:  # a bug must cost one connection, never the worker
            log.exception("unexpected error serving a connection")
            keep = False
        finally:
            with self._lock:
                self._busy -= 1
        if keep and not self._stopping:
            self._give_back(conn)
        else:
            self._forget(conn)
