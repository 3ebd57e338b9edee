"""Undo HTTP Content-Encoding as the body streams in, within a size cap.

A decompression bomb (a few KB that inflate to GBs) must not be able to eat
memory or CPU, so every stage inflates at most `PIECE` bytes per step and
the whole chain stops for good once `max_output` decoded bytes were produced.
Corrupt data never raises: what was decoded so far stays valid and the
problem is recorded in `notes`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

try:  # optional: Squid may pass `br` bodies when the client asked for them
    import brotli
except ImportError:  # pragma: no cover - depends on the installation
    brotli = None

try:  # optional: ISA-L inflates gzip about twice as fast as zlib, same API
    from isal import isal_zlib as fast_zlib
except ImportError:  # pragma: no cover - depends on the installation
    fast_zlib = None

#: The inflate implementation used by default (`isal_zlib` when installed).
INFLATE = fast_zlib or zlib
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,) + (
    (fast_zlib.error,) if fast_zlib is not None else ()
)

PIECE = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class _Stage:
    """One decoding step; `feed` yields decoded pieces of at most PIECE bytes."""

    name = "identity"

    def feed(self, data: bytes) -> Iterator[bytes]:
        for i in range(0, len(data), PIECE):
            yield data[i : i + PIECE]

    def finish(self) -> Iterator[bytes]:
        return iter(())


class _ZlibStage(_Stage):
    """gzip (multi-member) and deflate (zlib-wrapped or raw) via decompressobj."""

    def __init__(self, name: str, notes: list[str]) -> None:
        self.name = name
        self._notes = notes
        self._obj = None
        self._between: bytes | None = None  # after a gzip member that ended an input
        self._head = b""
        self._dead = False
        self._passthrough = False
        self._members = 0

    def _start(self, data: bytes) -> None:
        if self.name == "gzip":
            if not data.startswith(_GZIP_MAGIC):
                # Mislabelled plain bodies are common; scanning them is better
                # than scanning nothing.
                self._notes.append("Content-Encoding gzip but body is not gzip; read as is")
                self._passthrough = True
                return
            wbits = 16 + zlib.MAX_WBITS
        else:
            # RFC 9110 deflate is zlib-wrapped, but many servers send raw deflate.
            zlib_header = (
                len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            )
            wbits = zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS
        self._obj = INFLATE.decompressobj(wbits)
        self._members += 1

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._dead or not data:
            return
        if self._between is not None:
            # a gzip member ended exactly at the end of the last input
            data, self._between = self._between + data, None
            if not data.startswith(_GZIP_MAGIC):
                if len(data) < len(_GZIP_MAGIC) and _GZIP_MAGIC.startswith(data):
                    self._between = data
                    return
                self._trailing(data)
                return
            self._start(data)
        if self._obj is None and not self._passthrough:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._start(data)
        if self._passthrough:
            yield from super().feed(data)
            return
        buf = data
        while not self._dead:
            obj = self._obj
            assert obj is not None
            try:
                out = obj.decompress(buf, PIECE)
            except _INFLATE_ERRORS as exc:
                self._notes.append(f"{self.name}: corrupt data ({exc}); scanned what decoded")
                self._dead = True
                return
            buf = obj.unconsumed_tail
            if out:
                yield out
            if not obj.eof and not buf and len(out) < PIECE:
                return  # all input taken and no output pending (ISA-L may hold some)
            if obj.eof:
                rest = obj.unused_data + buf
                if self.name == "gzip":
                    if rest.startswith(_GZIP_MAGIC):
                        self._start(rest)
                        buf = rest
                        continue
                    if len(rest) < len(_GZIP_MAGIC) and _GZIP_MAGIC.startswith(rest):
                        self._between = rest  # another member may follow in the next input
                        return
                self._trailing(rest)
                return

    def _trailing(self, rest: bytes) -> None:
        if rest.strip(b"\x00\r\n\t "):
            self._notes.append(f"{self.name}: {len(rest)} bytes of trailing garbage ignored")
        self._dead = True

    def finish(self) -> Iterator[bytes]:
        if self._dead:
            return
        if self._between is not None:
            self._trailing(self._between)
            return
        if self._obj is None and not self._passthrough:
            if not self._head:
                return
            head, self._head = self._head, b""
            self._start(head)
            if self._passthrough:
                yield head
                return
            yield from self.feed(head)
        obj = self._obj
        if self._passthrough or obj is None or self._dead:
            return
        try:
            tail = obj.flush()
        except _INFLATE_ERRORS as exc:
            self._notes.append(f"{self.name}: corrupt data ({exc}); scanned what decoded")
            return
        if tail:
            yield tail
        if not obj.eof:
            self._notes.append(f"{self.name}: body ended before the compressed stream did")


class _BrotliStage(_Stage):
    name = "br"

    def __init__(self, notes: list[str]) -> None:
        self._notes = notes
        self._obj = brotli.Decompressor()
        self._dead = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._dead or not data:
            return
        try:
            out = self._obj.process(data, output_buffer_limit=PIECE)
            while out:
                yield out
                if len(out) < PIECE and self._obj.can_accept_more_data():
                    break
                out = self._obj.process(b"", output_buffer_limit=PIECE)
        except brotli.error as exc:
            self._notes.append(f"br: corrupt data ({exc}); scanned what decoded")
            self._dead = True

    def finish(self) -> Iterator[bytes]:
        if self._dead:
            return
        yield from self.feed_empty()
        if not self._obj.is_finished():
            self._notes.append("br: body ended before the compressed stream did")

    def feed_empty(self) -> Iterator[bytes]:
        try:
            while out := self._obj.process(b"", output_buffer_limit=PIECE):
                yield out
        except brotli.error as exc:
            self._notes.append(f"br: corrupt data ({exc}); scanned what decoded")
            self._dead = True


def _stages(content_encoding: str | None, notes: list[str]) -> list[_Stage] | None:
    """Decoders in the order to apply them, or None if one is unsupported."""
    if not content_encoding:
        return []
    names = [n.strip().lower() for n in content_encoding.split(",") if n.strip()]
    stages: list[_Stage] = []
    for name in reversed(names):  # the last encoding applied is undone first
        if name in ("identity", "none"):
            continue
        if name in ("gzip", "x-gzip"):
            stages.append(_ZlibStage("gzip", notes))
        elif name == "deflate":
            stages.append(_ZlibStage("deflate", notes))
        elif name == "br" and brotli is not None:
            stages.append(_BrotliStage(notes))
        else:
            notes.append(f"unsupported Content-Encoding {name!r}; body not scanned")
            return None
    return stages


class ContentDecoder:
    """Streams raw body bytes through the Content-Encoding chain.

    `feed` and `finish` are generators of decoded pieces: the caller handles
    one piece at a time, so memory stays at a few pieces whatever the ratio.
    """

    def __init__(self, content_encoding: str | None, max_output: int) -> None:
        self.notes: list[str] = []
        self._stages = _stages(content_encoding, self.notes)
        self.unsupported = self._stages is None
        self.max_output = max_output
        self.output_bytes = 0
        self.truncated = False

    @property
    def done(self) -> bool:
        """No further input can produce output (cap reached or unsupported)."""
        return self.truncated or self.unsupported

    def _run(self, data: bytes, level: int, final: bool) -> Iterator[bytes]:
        assert self._stages is not None
        if level == len(self._stages):
            if data:
                yield data
            return
        stage = self._stages[level]
        for piece in stage.feed(data):
            yield from self._run(piece, level + 1, False)
        if final:
            for piece in stage.finish():
                yield from self._run(piece, level + 1, False)
            yield from self._run(b"", level + 1, True)

    def _capped(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            room = self.max_output - self.output_bytes
            if len(piece) > room:
                piece = piece[:room]
                self.truncated = True
            if piece:
                self.output_bytes += len(piece)
                yield piece
            if self.truncated:
                self.notes.append(f"decoded body cap of {self.max_output} bytes reached")
                return

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.done or not data:
            return iter(())
        return self._capped(self._run(bytes(data), 0, False))

    def finish(self) -> Iterator[bytes]:
        if self.done:
            return iter(())
        return self._capped(self._run(b"", 0, True))
