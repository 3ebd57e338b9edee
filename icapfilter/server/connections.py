"""Bounded concurrency: a fixed thread pool serving many persistent connections.

No pool thread waits for a client. A connection is a suspended generator
(:class:`IcapConnection <.handler.IcapConnection>`); a pool thread resumes it
when the one-shot poller (:mod:`.readiness`) reports it readable, serves
until the client's bytes run out, and parks it in the poller again: idle
between messages, or inside a message with that message's deadline. So
trickling bodies and slowloris heads hold connection slots, never threads.

Squid sends one message per connection at a time, so this hand-off happens on
almost every transaction; it is kept to a ``SimpleQueue`` put and get and, on
Linux, one ``epoll_ctl`` to re-arm, with no wake-up of the poller thread
(what that saves is measured in docs/benchmarks-compare.md).

The poller thread also sweeps, a few times a second: idle connections past
``idle_timeout`` are closed, and a parked message past its deadline is handed
to a pool thread, which answers it 408 (or closes, if its answer started).

Slots: the number of open connections is capped. At the cap, a new
connection takes the slot of the connection idle the longest (Squid reopens
an idle persistent connection at no cost, and retries a message that met
one closing); a connection that has not sent its first message yet only
after ``FRESH_GRACE``. Only when no slot can be freed is the newcomer
answered ICAP 503 and closed (Squid then bypasses or fails over) instead
of queueing without end. The last ``reserve`` slots (at most half) only take
trusted clients, so other clients holding slots cannot lock Squid out.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .readiness import OneShotPoller, one_shot_poller

log = logging.getLogger("icapfilter.server")

SWEEP_INTERVAL = 0.25
# A connection that has not sent its first message is only evicted after this
# long: Squid sends at once, and in a burst of new connections the newest must
# not push out the ones whose first message is still on its way (they would
# be closed unanswered; a 503 is the clearer answer).
FRESH_GRACE = 1.0


class Conn(Protocol):
    sock: socket.socket
    # Set by resume: when the message in progress must have progressed;
    # None while the connection is between messages.
    deadline: float | None
    # Set by resume: waiting to send (the client does not read), not to receive.
    writing: bool

    def resume(self) -> bool:
        """Serve until the client's bytes run out; False when the connection must close."""

    def close(self) -> None: ...


class ConnectionManager:
    def __init__(
        self,
        threads: int,
        max_connections: int,
        idle_timeout: float,
        overload_reply: Callable[[], bytes],
        poller: OneShotPoller | None = None,
        reserve: int = 0,
    ) -> None:
        self.max_connections = max_connections
        self.reserve = min(reserve, max_connections // 2)
        self.idle_timeout = idle_timeout
        self._overload_reply = overload_reply
        self._poller = poller or one_shot_poller()
        self._queue: queue.SimpleQueue[Conn | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._open: set[Conn] = set()
        # Parked between messages, by when they became idle (oldest first).
        self._idle: dict[Conn, float] = {}
        self._fresh: set[Conn] = set()  # not served yet
        # Parked inside a message, with its deadline.
        self._parked: dict[Conn, float] = {}
        self._evicted: list[Conn] = []
        self._stopping = False
        self._busy = 0
        self.rejected = 0
        self.evictions = 0
        self._thread = threading.Thread(target=self._loop, name="icap-selector", daemon=True)
        self._thread.start()
        self._workers = self._start_pool(threads)

    def _start_pool(self, threads: int) -> list[threading.Thread]:
        """Start every pool thread now, not when a burst of traffic first needs it.

        A pool that grows on demand (ThreadPoolExecutor's) made RSS step up
        over the first minutes of traffic, about 1 MB per thread (its stack,
        and in glibc its own malloc arena), each time a busier moment started
        one more thread. The pool size is fixed by configuration, so its
        memory belongs to the start.
        """
        workers = [threading.Thread(target=self._work, name=f"icap_{i}", daemon=True)
                   for i in range(threads)]
        for worker in workers:
            worker.start()
        return workers

    # -- public ------------------------------------------------------------

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._open)

    @property
    def parked_count(self) -> int:
        """Connections waiting for the rest of a message."""
        with self._lock:
            return len(self._parked)

    def add(self, conn: Conn, trusted: bool = True) -> bool:
        """Take a new connection: into a free slot, or the slot of the longest
        idle connection; else answer 503 and close it."""
        limit = self.max_connections if trusted else self.max_connections - self.reserve
        evicted = False
        with self._lock:
            accept = not self._stopping
            now = time.monotonic()
            victim = self._evictable(now) if accept and len(self._open) >= limit else None
            if victim is not None:
                del self._idle[victim]
                self._fresh.discard(victim)
                self._open.discard(victim)
                self._evicted.append(victim)
                self.evictions += 1
                evicted = True
            accept = accept and len(self._open) < limit
            if accept:
                self._open.add(conn)
                self._idle[conn] = now
                self._fresh.add(conn)
        if evicted:
            self._poller.wake()  # the poller thread closes the evicted connection
        if not accept:
            self.rejected += 1
            try:
                conn.sock.setblocking(False)
                conn.sock.send(self._overload_reply())
            except OSError:
                pass
            conn.close()
            return False
        try:
            self._poller.add(conn)
        except (OSError, ValueError):
            self._forget(conn)
            return False
        return True

    def _evictable(self, now: float) -> Conn | None:
        """The longest-idle connection, skipping new ones still in their grace."""
        for conn, since in self._idle.items():
            if conn not in self._fresh or now - since > FRESH_GRACE:
                return conn
        return None

    def shutdown(self, drain_timeout: float) -> None:
        """Stop taking work, let messages in progress finish, close the rest."""
        with self._lock:
            self._stopping = True
        self._poller.wake()
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._busy == 0 and not self._parked:
                    break
            time.sleep(0.05)
        for _ in self._workers:
            self._queue.put(None)
        with self._lock:
            leftovers = list(self._open) + self._evicted
            self._open.clear()
            self._idle.clear()
            self._fresh.clear()
            self._parked.clear()
            self._evicted = []
        self._poller.wake()
        for conn in leftovers:
            conn.close()
        self._thread.join(timeout=2)
        if not self._thread.is_alive():
            self._poller.close()
        until = time.monotonic() + 2
        for worker in self._workers:
            worker.join(timeout=max(0.0, until - time.monotonic()))

    # -- internals -----------------------------------------------------------

    def _park(self, conn: Conn) -> None:
        """Back to the poller: idle, or inside a message until its deadline."""
        deadline = conn.deadline
        with self._lock:
            self._fresh.discard(conn)
            if conn not in self._open:
                return  # closed by shutdown meanwhile
            if deadline is None:
                if self._stopping:
                    self._open.discard(conn)
                    stop = True
                else:
                    self._idle[conn] = time.monotonic()
                    stop = False
            else:
                self._parked[conn] = deadline
                stop = False
            if not stop:
                try:
                    self._poller.arm(conn, write=conn.writing)
                    return
                except (OSError, ValueError):
                    self._idle.pop(conn, None)
                    self._parked.pop(conn, None)
        self._forget(conn)

    def _forget(self, conn: Conn) -> None:
        with self._lock:
            self._open.discard(conn)
            self._idle.pop(conn, None)
            self._fresh.discard(conn)
            self._parked.pop(conn, None)
        self._poller.remove(conn)
        conn.close()

    def _loop(self) -> None:
        next_sweep = time.monotonic() + SWEEP_INTERVAL
        while True:
            ready = self._poller.poll(SWEEP_INTERVAL)
            now = time.monotonic()
            runnable: list[Conn] = []
            with self._lock:
                evicted, self._evicted = self._evicted, []
                stopping = self._stopping
                for conn in ready:
                    if conn not in self._open:
                        continue  # evicted or closed meanwhile
                    if conn in self._parked or not stopping:
                        self._parked.pop(conn, None)
                        self._idle.pop(conn, None)
                        runnable.append(conn)
                self._busy += len(runnable)
                if stopping:
                    # No new message once stopping; messages in progress finish.
                    idle = [c for c in ready if c in self._idle] + list(self._idle)
                    self._idle.clear()
                    self._fresh.clear()
                    for conn in idle:
                        self._open.discard(conn)
                    evicted += idle
            for conn in evicted:
                self._poller.remove(conn)
                conn.close()
            for conn in runnable:
                self._queue.put(conn)
            if stopping:
                with self._lock:
                    if self._busy == 0 and not self._parked:
                        return
            if now >= next_sweep:
                next_sweep = now + SWEEP_INTERVAL
                self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Close connections idle too long; resume messages past their deadline
        (the pool thread finds nothing to read and answers 408)."""
        with self._lock:
            expired = []
            for conn, since in self._idle.items():
                if now - since <= self.idle_timeout:
                    break  # oldest first: the rest are younger
                expired.append(conn)
            for conn in expired:
                del self._idle[conn]
                self._fresh.discard(conn)
                self._open.discard(conn)
            late = [conn for conn, deadline in self._parked.items() if deadline <= now]
            for conn in late:
                del self._parked[conn]
                self._poller.disarm(conn)
            self._busy += len(late)
        for conn in expired:
            self._poller.remove(conn)
            conn.close()
        for conn in late:
            self._queue.put(conn)

    def _work(self) -> None:
        while True:
            conn = self._queue.get()
            if conn is None:
                return
            self._serve(conn)

    def _serve(self, conn: Conn) -> None:
        keep = False
        try:
            keep = conn.resume()
        except Exception:  # a bug must cost one connection, never the worker
            log.exception("unexpected error serving a connection")
            keep = False
        finally:
            with self._lock:
                self._busy -= 1
        if keep:
            self._park(conn)
        else:
            self._forget(conn)
