"""`br` decoding with the brotli binding (1.2 or later: bounded output per call)."""

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

    def push(self, data: bytes) -> None:
        if not self._dead:
            super().push(data)

    def pull(self) -> bytes:
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
            try:
                out = obj.process(data, output_buffer_limit=PIECE)
            except brotli.error as exc:
                self.notes.append(f"br: corrupt data ({exc}); scanned what decoded")
                self._dead = True
                return b""
            # the limit stops the output buffer growing, so a piece may pass it
            # a little; a full one means more may be held back
            self._more = len(out) >= PIECE
            if out:
                return out
        return b""

    def _trailing(self) -> None:
        if self._take(4096).strip(b"\x00\r\n\t "):
            self.notes.append("br: trailing garbage after the compressed stream ignored")
        self._dead = True
