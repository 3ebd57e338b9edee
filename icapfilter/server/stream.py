"""Non-blocking reads and sends, with deadlines, around one socket.

The reader keeps the connection's unread bytes (``SocketReader.buffer``); the
sans-IO exchange (:mod:`icapfilter.icap.exchange`) parses them.

No pool thread waits for a client's bytes. Every read here is a generator:
when the socket has nothing (after a brief linger, see :class:`SocketReader`)
it *yields* the deadline of the message in progress, or ``None`` between
messages, and the connection manager parks the whole suspended transaction in
the poller until the socket is readable or the deadline has passed. So a
trickling or silent client costs a connection slot, never a thread.

The deadlines that defeat idle, slowloris and trickling clients are computed
here too (:class:`Timeouts`): the ICAP head and the encapsulated HTTP heads
must be complete within ``head_timeout`` of the message's first byte, no read
waits more than ``read_timeout`` for a byte, and after ``message_timeout`` a
message must have arrived at ``min_body_rate`` bytes per second on average.

Writes park too (:class:`SocketWriter`): a client that stops reading its
answer (a paused download, a hostile client) holds no thread, and is cut off
after ``send_timeout`` without progress.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass

from ..icap.errors import IncompleteMessage

RECV_SIZE = 65536
# Most a pool thread lingers on one connection between two parkings: a client
# that sends (or reads) a byte every millisecond would otherwise keep the
# thread forever, each wait ending just before it would park.
LINGER_BUDGET = 0.02

# What a read or a send yields while it waits: the monotonic time by which the
# message in progress must progress (a WriteDeadline when waiting to send), or
# None between messages (idle).
Wait = float | None
Reading = Generator[Wait, None, bytes]

# One receive buffer per thread, reused: `recv(65536)` allocates 64 KiB for
# every read and shrinks it to what arrived, and that churn of odd-sized heap
# blocks is what fragmented glibc's heaps (docs/operations.md, "Soak and
# memory"). A connection does not own one: idle connections would each hold
# 64 KiB.
_scratch = threading.local()


def _recv_buffer() -> memoryview:
    view = getattr(_scratch, "view", None)
    if view is None:
        view = _scratch.view = memoryview(bytearray(RECV_SIZE))
    return view


def _ready_within(sock: socket.socket, events: int, timeout: float) -> bool:
    try:
        poller = select.poll()
        poller.register(sock, events)
        ready = poller.poll(max(0.0, timeout) * 1000)
    except (OSError, ValueError):
        return True  # let the next send or recv report the error
    return bool(ready)


def readable_soon(sock: socket.socket, timeout: float) -> bool:
    return _ready_within(sock, select.POLLIN, timeout)


class WriteDeadline(float):
    """Yielded by a send that waits for the client to read: a deadline, like
    any wait, and a sign to the connection manager to wait for writability."""

    __slots__ = ()


class SocketWriter:
    """The send side of one connection: non-blocking sends that park while
    the client reads nothing (its receive window and our send buffer full),
    up to ``send_timeout`` without progress."""

    def __init__(self, sock: socket.socket, timeouts: Timeouts, linger: float = 0.002) -> None:
        self.sock = sock
        self.timeouts = timeouts
        self.linger = linger
        self._lingered = 0.0

    def send(self, data: bytes) -> Generator[Wait, None, None]:
        view = memoryview(data)
        deadline = 0.0
        while view:
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                sent = 0
            if sent:
                view = view[sent:]
                deadline = 0.0
                continue
            if self.linger and self._lingered < LINGER_BUDGET:
                waited = time.monotonic()
                ready = _ready_within(self.sock, select.POLLOUT, self.linger)
                self._lingered += time.monotonic() - waited
                if ready:
                    continue
            now = time.monotonic()
            deadline = deadline or now + self.timeouts.send_timeout
            if now >= deadline:
                raise TimeoutError(f"client read none of its answer for "
                                   f"{self.timeouts.send_timeout:g} s")
            self._lingered = 0.0
            yield WriteDeadline(deadline)


class MessageTooSlow(IncompleteMessage):
    """A message did not arrive within its deadline: answered 408 (or closed)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 408)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long a message may take to arrive; see the module docstring."""

    head_timeout: float = 10.0
    read_timeout: float = 30.0
    message_timeout: float = 60.0
    min_body_rate: float = 256.0
    send_timeout: float = 60.0


class SocketReader:
    """The receive side of one connection: a buffer and the current message's clock.

    ``linger``: before parking, wait this long for bytes on the pool thread.
    A direct client sends its next message as soon as it has the answer; a
    two-millisecond wait serves it without the trip through the poller thread
    (which waits for the GIL behind scanning threads). Without it the direct
    RESPMOD benchmark lost a tenth to a third of its throughput. These waits
    add up to at most ``LINGER_BUDGET`` between two parkings.

    :meth:`expect` lengthens the next wait, at the two points of a message
    where the client is known to send next: the body after the heads, the
    rest of it after ``100 Continue``. Squid sends its RESPMOD head as soon as
    the origin's response head arrives and the body when the origin's body
    does, often more than 2 ms later; parking there cost a poller hand-off on
    most fetches through Squid (0.75 per fetch measured). Only for a
    ``trusted`` client (``allowed_clients``, or loopback): a hostile one could
    hold a thread that long per message.
    """

    def __init__(self, sock: socket.socket, timeouts: Timeouts, linger: float = 0.002,
                 trusted: bool = False) -> None:
        self.sock = sock
        self.timeouts = timeouts
        self.linger = linger
        self.trusted = trusted
        self.buffer = bytearray()
        self.started = 0.0  # first byte of the message in progress; 0 = none yet
        self.in_body = False
        self.received = 0  # bytes of the message in progress
        self.last_byte = 0.0
        self._expect_until = 0.0
        self._lingered = 0.0

    def begin_message(self) -> None:
        """Start the clock of the next message (its first bytes may be buffered)."""
        now = time.monotonic()
        self.started = now if self.buffer else 0.0
        self.last_byte = now
        self.received = len(self.buffer)
        self.in_body = False
        self._expect_until = 0.0

    def heads_done(self) -> None:
        self.in_body = True

    def expect(self, seconds: float) -> None:
        """The client will send soon: the next wait lingers up to ``seconds``
        (a trusted client only)."""
        if self.trusted:
            self._expect_until = time.monotonic() + seconds

    def deadline(self) -> float | None:
        """When the message in progress is too slow; None between messages."""
        if not self.started:
            return None
        t = self.timeouts
        stalled = self.last_byte + t.read_timeout
        if not self.in_body:
            return min(stalled, self.started + t.head_timeout)
        if t.min_body_rate <= 0:
            return stalled
        return min(stalled, self.started + max(t.message_timeout,
                                               self.received / t.min_body_rate))

    def receive(self) -> Reading:
        """The next bytes from the socket, b"" at EOF; parks while there are none."""
        view = _recv_buffer()
        while True:
            try:
                size = self.sock.recv_into(view)
                break
            except BlockingIOError:
                pass
            except OSError as exc:
                raise IncompleteMessage(f"connection error: {exc}") from exc
            if self._expect_until:  # an allowance of its own, outside the budget
                expected = self._expect_until - time.monotonic()
                self._expect_until = 0.0
                if expected > 0 and readable_soon(self.sock, expected):
                    continue
            if self.linger and self._lingered < LINGER_BUDGET:
                waited = time.monotonic()
                ready = readable_soon(self.sock, self.linger)
                self._lingered += time.monotonic() - waited
                if ready:
                    continue
            deadline = self.deadline()
            if deadline is not None and time.monotonic() >= deadline:
                raise MessageTooSlow("client too slow sending the head" if not self.in_body
                                     else "client too slow sending the body")
            self._lingered = 0.0
            yield deadline
            view = _recv_buffer()  # resumed on another pool thread, maybe
        now = time.monotonic()
        if not self.started:
            self.started = now
        self.last_byte = now
        self.received += size
        return bytes(view[:size])
