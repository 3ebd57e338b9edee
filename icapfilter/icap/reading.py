"""Reading one ICAP message from the connection's bytes, sans-IO: heads, the
chunked body event by event, the preview (RFC 3507 4.4, 4.5)."""

from __future__ import annotations

from collections import deque
from collections.abc import Generator

from .commands import BODY, HEAD, Command, ConnectionClosed, Reading
from .errors import IcapProtocolError, IncompleteMessage
from .parse import Chunk, ChunkDecoder, EndOfBody, find_head_end
from .service import ProtocolSettings


class MessageReader:
    """The read side of an exchange. ``buffer`` holds the connection's unread
    bytes; bytes past this message stay in it for the next one."""

    __slots__ = ("buffer", "settings", "body_bytes", "_decoder", "_events", "in_preview",
                 "complete", "preview_read")
    _events: deque[Chunk | EndOfBody]  # set by _open_body

    def __init__(self, buffer: bytearray, settings: ProtocolSettings) -> None:
        self.buffer = buffer
        self.settings = settings
        self.body_bytes = 0
        self._decoder: ChunkDecoder | None = None
        self.in_preview = False
        self.complete = True  # the whole body has been read
        self.preview_read = False  # the end of the preview has been read

    def _read_head(self, limit: int) -> Reading:
        """One head ending in a blank line; the buffer never holds more than
        ``limit`` plus one receive."""
        buffer = self.buffer
        searched = 0
        while True:
            end = find_head_end(buffer, max(0, searched - 3))
            if end >= 0:
                if end > limit:
                    raise IcapProtocolError("ICAP head too large", 431)
                head = bytes(buffer[:end])
                del buffer[:end]
                return head
            if len(buffer) > limit:
                raise IcapProtocolError("ICAP head too large", 431)
            searched = len(buffer)
            data = yield HEAD
            if not data:
                if buffer.strip():
                    raise IncompleteMessage("connection closed inside the ICAP head")
                raise ConnectionClosed()
            buffer += data

    def _read_exact(self, size: int) -> Reading:
        """``size`` bytes of encapsulated heads (bounded by the parser)."""
        buffer = self.buffer
        while len(buffer) < size:
            data = yield HEAD
            if not data:
                raise IncompleteMessage("connection closed inside the encapsulated heads")
            buffer += data
        result = bytes(buffer[:size])
        del buffer[:size]
        return result

    def _open_body(self) -> None:
        """Start decoding a chunked body, beginning with the bytes buffered."""
        self._decoder = decoder = ChunkDecoder(self.settings.limits)
        self._events = deque()
        self.complete = False
        if self.buffer:
            data = bytes(self.buffer)
            self.buffer.clear()
            self._events.extend(decoder.feed(data))

    def _next_event(self) -> Generator[Command, bytes | None, bytes | EndOfBody]:
        events = self._events
        decoder = self._decoder
        assert decoder is not None
        while not events:
            data = yield BODY
            if not data:
                raise IncompleteMessage("connection closed inside a chunked body")
            events.extend(decoder.feed(data))
        event = events.popleft()
        if isinstance(event, EndOfBody):
            self.buffer[:0] = decoder.leftover
            return event
        return event.data

    def _next_data(self) -> Generator[Command, bytes | None, bytes | None]:
        """Next body bytes; None at the end of the preview or of the body."""
        event = yield from self._next_event()
        if isinstance(event, EndOfBody):
            if not self.in_preview or event.ieof:
                self.complete = True
            return None
        self.body_bytes += len(event)
        return event

    def _drain(self, limit: int | None) -> Generator[Command, bytes | None, bool]:
        """Read and drop the rest of a body; False when it was too long to wait for."""
        total = 0
        while True:
            event = yield from self._next_event()
            if isinstance(event, EndOfBody):
                return True
            total += len(event)
            if limit is not None and total > limit:
                return False

    def _read_preview(self) -> Generator[Command, bytes | None, None]:
        """Read the rest of the preview (at most ``preview`` bytes, already sent)."""
        if self.in_preview and not self.complete and not self.preview_read:
            while (yield from self._next_data()) is not None:
                pass
            self.preview_read = True

