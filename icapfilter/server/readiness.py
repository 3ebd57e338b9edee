"""One-shot readiness: a connection is reported readable once, then not again
until it is armed anew.

That is the whole contract the connection manager needs: an idle persistent
connection waits here, a readable one is handed to one pool thread, and that
thread arms it again when it has nothing more to read (or, when the client
does not take its answer, to be reported writable). On Linux this is epoll with
``EPOLLONESHOT``: arming is one ``epoll_ctl`` from the pool thread, safe while
another thread waits in ``epoll_wait``, so a connection goes back to waiting
without waking the selector thread. Elsewhere (FreeBSD, macOS) a ``selectors``
selector emulates it: the selector thread unregisters what it reports, and an
arm from a pool thread is queued and the selector thread woken to register it,
which costs a wake-up per transaction.
"""

from __future__ import annotations

import select
import selectors
import socket
import threading
from typing import Any, Protocol


class Waitable(Protocol):
    sock: socket.socket


class OneShotPoller(Protocol):
    def add(self, conn: Waitable) -> None:
        """Start watching ``conn``, armed. Any thread."""

    def arm(self, conn: Waitable, write: bool = False) -> None:
        """Report ``conn`` once more when readable (writable, with ``write``).
        Any thread; OSError if it is gone."""

    def disarm(self, conn: Waitable) -> None:
        """Do not report ``conn`` until it is armed again. Only the polling thread."""

    def remove(self, conn: Waitable) -> None:
        """Stop watching ``conn`` (before it is closed). Any thread for a
        connection being served; only the polling thread for an armed one."""

    def poll(self, timeout: float) -> list[Any]:
        """Connections readable now (each disarmed); [] on timeout or wake-up."""

    def wake(self) -> None:
        """Make a ``poll`` in progress return. Any thread."""

    def close(self) -> None: ...


class _Wakeup:
    def __init__(self) -> None:
        self.r, self.w = socket.socketpair()
        self.r.setblocking(False)
        self.w.setblocking(False)

    def wake(self) -> None:
        try:
            self.w.send(b"x")
        except OSError:
            pass

    def drain(self) -> None:
        try:
            while self.r.recv(4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self.r.close()
        self.w.close()


class EpollPoller:
    """Linux: ``EPOLLONESHOT``; arming needs no wake-up."""

    _ONESHOT = select.EPOLLIN | getattr(select, "EPOLLONESHOT", 0)
    _ONESHOT_OUT = select.EPOLLOUT | getattr(select, "EPOLLONESHOT", 0)

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._conns: dict[int, Waitable] = {}
        self._wakeup = _Wakeup()
        self._ep.register(self._wakeup.r.fileno(), select.EPOLLIN)

    def add(self, conn: Waitable) -> None:
        fd = conn.sock.fileno()
        self._conns[fd] = conn
        self._ep.register(fd, self._ONESHOT)

    def arm(self, conn: Waitable, write: bool = False) -> None:
        self._ep.modify(conn.sock.fileno(), self._ONESHOT_OUT if write else self._ONESHOT)

    def disarm(self, conn: Waitable) -> None:
        try:
            self._ep.modify(conn.sock.fileno(), 0)
        except (OSError, ValueError):
            pass  # closed: its owner forgets it

    def remove(self, conn: Waitable) -> None:
        fd = conn.sock.fileno()
        if fd < 0:
            return
        if self._conns.get(fd) is conn:
            del self._conns[fd]
        try:
            self._ep.unregister(fd)
        except (OSError, ValueError):
            pass

    def poll(self, timeout: float) -> list[Any]:
        ready = []
        wake_fd = self._wakeup.r.fileno()
        for fd, _ in self._ep.poll(timeout):
            if fd == wake_fd:
                self._wakeup.drain()
                continue
            conn = self._conns.get(fd)
            if conn is not None:
                ready.append(conn)
        return ready

    def wake(self) -> None:
        self._wakeup.wake()

    def close(self) -> None:
        self._ep.close()
        self._wakeup.close()


class SelectorPoller:
    """Portable: unregister on report, register again from the polling thread."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._pending: list[tuple[Waitable, int]] = []
        self._wakeup = _Wakeup()
        self._sel.register(self._wakeup.r, selectors.EVENT_READ, None)

    def add(self, conn: Waitable) -> None:
        self.arm(conn)

    def arm(self, conn: Waitable, write: bool = False) -> None:
        if conn.sock.fileno() < 0:
            raise OSError("connection closed")
        with self._lock:
            self._pending.append((conn, selectors.EVENT_WRITE if write else selectors.EVENT_READ))
        self._wakeup.wake()

    def disarm(self, conn: Waitable) -> None:
        self.remove(conn)

    def remove(self, conn: Waitable) -> None:
        with self._lock:
            self._pending = [(c, events) for c, events in self._pending if c is not conn]
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass

    def poll(self, timeout: float) -> list[Any]:
        with self._lock:
            pending, self._pending = self._pending, []
        for conn, events in pending:
            try:
                self._sel.register(conn.sock, events, conn)
            except (KeyError, ValueError, OSError):
                pass  # closed meanwhile: its owner forgets it
        ready = []
        for key, _ in self._sel.select(timeout):
            if key.data is None:
                self._wakeup.drain()
                continue
            self._sel.unregister(key.fileobj)
            ready.append(key.data)
        return ready

    def wake(self) -> None:
        self._wakeup.wake()

    def close(self) -> None:
        self._sel.close()
        self._wakeup.close()


def one_shot_poller() -> OneShotPoller:
    if hasattr(select, "epoll") and hasattr(select, "EPOLLONESHOT"):
        return EpollPoller()
    return SelectorPoller()
