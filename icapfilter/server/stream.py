"""Blocking reads with a buffer, limits and deadlines around one socket.

This is the only place a transaction waits for the network, so the timeouts
that defeat idle and slowloris clients live here: each ``recv`` waits at most
``read_timeout``, and a head must be complete within ``head_timeout``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque

from ..icap.errors import IcapProtocolError, IncompleteMessage
from ..icap.parse import Chunk, ChunkDecoder, EndOfBody, Limits, find_head_end

RECV_SIZE = 65536

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


class ConnectionClosed(Exception):
    """The peer closed the connection cleanly between two messages."""


class SocketReader:
    def __init__(self, sock: socket.socket, read_timeout: float, head_timeout: float) -> None:
        self.sock = sock
        self.read_timeout = read_timeout
        self.head_timeout = head_timeout
        self.buffer = bytearray()

    def _recv(self, deadline: float | None = None) -> bytes:
        timeout = self.read_timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise IncompleteMessage("client too slow sending the head", 408)
        self.sock.settimeout(timeout)
        try:
            view = _recv_buffer()
            data = bytes(view[: self.sock.recv_into(view)])
        except TimeoutError as exc:
            raise IncompleteMessage("timed out waiting for the client", 408) from exc
        except OSError as exc:
            raise IncompleteMessage(f"connection error: {exc}") from exc
        return data

    def has_pending(self) -> bool:
        return bool(self.buffer)

    def read_head(self, limit: int) -> bytes:
        """One head ending in a blank line; ConnectionClosed if EOF before any byte."""
        deadline = time.monotonic() + self.head_timeout
        searched = 0
        while True:
            end = find_head_end(self.buffer, max(0, searched - 3))
            if end >= 0:
                if end > limit:
                    raise IcapProtocolError("ICAP head too large", 431)
                head = bytes(self.buffer[:end])
                del self.buffer[:end]
                return head
            if len(self.buffer) > limit:
                raise IcapProtocolError("ICAP head too large", 431)
            searched = len(self.buffer)
            data = self._recv(deadline)
            if not data:
                if self.buffer.strip():
                    raise IncompleteMessage("connection closed inside the ICAP head")
                raise ConnectionClosed()
            self.buffer += data

    def read_exact(self, size: int) -> bytes:
        deadline = time.monotonic() + self.head_timeout
        while len(self.buffer) < size:
            data = self._recv(deadline)
            if not data:
                raise IncompleteMessage("connection closed inside the encapsulated heads")
            self.buffer += data
        result = bytes(self.buffer[:size])
        del self.buffer[:size]
        return result

    def recv_some(self) -> bytes:
        data = self._recv()
        if not data:
            raise IncompleteMessage("connection closed inside a chunked body")
        return data


class ChunkedBody:
    """One chunked body read from a :class:`SocketReader`, an event at a time.

    Bytes that follow the body stay in the reader's buffer for the next message.
    """

    def __init__(self, reader: SocketReader, limits: Limits) -> None:
        self._reader = reader
        self._decoder = ChunkDecoder(limits)
        self._queue: deque[Chunk | EndOfBody] = deque()
        self._take(bytes(reader.buffer))

    def _take(self, data: bytes) -> None:
        if data:
            self._reader.buffer.clear()
            self._queue.extend(self._decoder.feed(data))

    def next(self) -> bytes | EndOfBody:
        while not self._queue:
            self._queue.extend(self._decoder.feed(self._reader.recv_some()))
        event = self._queue.popleft()
        if isinstance(event, EndOfBody):
            self._reader.buffer[:0] = self._decoder.leftover
            return event
        return event.data
