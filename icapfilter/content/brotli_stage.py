"""`br` decoding with the brotli binding (1.2 or later: bounded output per call).

The binding fails a whole call when its input goes on past the end of the
stream or turns corrupt, and the output of that call is lost, while a
browser shows everything decoded up to that point. So the compressed input
is kept (up to `KEEP_INPUT` bytes), and after such a failure it is decoded
again, the last slice a byte at a time, to recover that output.
"""

from __future__ import annotations

from .stage import IN_SLICE, PIECE, Stage

try:
    import brotli
except ImportError:  # pragma: no cover - a dependency; missing only in a broken install
    brotli = None


def _bounded(module: object) -> bool:
    """brotli before 1.2 cannot bound the output of one call, so a few bytes
    could inflate to gigabytes in memory before we see any of it."""
    try:
        module.Decompressor().process(b"", output_buffer_limit=1)  # type: ignore[attr-defined]
    except TypeError:
        return False
    return True


#: Compressed bytes kept to recover the output of a failed call.
KEEP_INPUT = 512 * 1024
#: Most output recovered that way.
RECOVER_MAX = 1 << 20

AVAILABLE = brotli is not None and _bounded(brotli)
WHY_UNAVAILABLE = ("" if AVAILABLE else
                   "the brotli module (1.2 or later) is not installed")


class BrotliStage(Stage):
    name = "br"

    def __init__(self, notes: list[str]) -> None:
        super().__init__(notes)
        self._obj = brotli.Decompressor()
        self._dead = False
        self._more = False
        self._kept: list[bytes] | None = []  # None once over KEEP_INPUT
        self._kept_bytes = 0
        self._emitted = 0
        self._recovered: list[bytes] = []

    def push(self, data: bytes) -> None:
        if not self._dead:
            super().push(data)

    def pull(self) -> bytes:
        if self._recovered:
            return self._recovered.pop(0)
        obj = self._obj
        while not self._dead:
            if self._more or not obj.can_accept_more_data():
                data = b""  # the last call stopped at its output limit
            elif obj.is_finished():
                self._trailing()
                return b""
            else:
                data = self._take(IN_SLICE)
                if not data:
                    if self.ended:
                        self.notes.append("br: body ended before the compressed stream did")
                        self._dead = True
                    return b""
                self._keep(data)
            try:
                out: bytes = obj.process(data, output_buffer_limit=PIECE)
            except brotli.error:
                self._dead = True
                self._recover()
                return self._recovered.pop(0) if self._recovered else b""
            # the limit stops the output buffer growing, so a piece may pass it
            # a little; a full one means more may be held back
            self._more = len(out) >= PIECE
            if out:
                self._emitted += len(out)
                return out
        return b""

    def _keep(self, data: bytes) -> None:
        if self._kept is None:
            return
        self._kept_bytes += len(data)
        if self._kept_bytes > KEEP_INPUT:
            self._kept = None
        else:
            self._kept.append(data)

    def _recover(self) -> None:
        """Decodes the kept input again to hand out what the failed call lost."""
        if not self._kept:
            self.notes.append("br: corrupt data; scanned what decoded")
            return
        obj = brotli.Decompressor()
        skip = self._emitted
        room = RECOVER_MAX
        *before, last = self._kept
        self._kept = None
        finished = False
        try:
            for data in before:
                for piece in _outputs(obj, data):
                    skip -= len(piece)
            for i in range(len(last)):
                finished = obj.is_finished()
                if finished:
                    break
                for piece in _outputs(obj, last[i : i + 1]):
                    if skip > 0:
                        piece, skip = piece[skip:], skip - len(piece)
                    if piece and room > 0:
                        self._recovered.append(piece[:room])
                        room -= len(piece)
                        if room < 0:
                            self.capped = True
                            self.notes.append("br: output lost to a failed call not all recovered")
            finished = obj.is_finished()
        except brotli.error:
            pass
        if finished:
            self.notes.append("br: trailing garbage after the compressed stream ignored")
        else:
            self.notes.append("br: corrupt data; scanned what decoded")

    def _trailing(self) -> None:
        if self._take(4096).strip(b"\x00\r\n\t "):
            self.notes.append("br: trailing garbage after the compressed stream ignored")
        self._dead = True


def _outputs(obj, data: bytes):  # type: ignore[no-untyped-def]
    out = obj.process(data, output_buffer_limit=PIECE)
    yield out
    while len(out) >= PIECE:
        out = obj.process(b"", output_buffer_limit=PIECE)
        yield out
