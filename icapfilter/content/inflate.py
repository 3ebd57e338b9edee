"""gzip (any number of members) and deflate (zlib-wrapped or raw) decoding."""

from __future__ import annotations

import zlib
from types import ModuleType
from typing import cast

from .stage import IN_SLICE, PIECE, Stage

try:  # optional: ISA-L inflates gzip about twice as fast as zlib, same API
    from isal import isal_zlib as fast_zlib
except ImportError:  # pragma: no cover - depends on the installation
    fast_zlib = None  # type: ignore[assignment]

#: The inflate implementation used by default (`isal_zlib` when installed).
INFLATE: ModuleType = fast_zlib or zlib
_ERRORS: tuple[type[Exception], ...] = (zlib.error,) + (
    (cast("type[Exception]", fast_zlib.error),) if fast_zlib is not None else ()
)
GZIP_MAGIC = b"\x1f\x8b"
#: Work charged for starting a gzip member: empty members cost a few
#: microseconds each and output nothing, so a body of them would otherwise
#: be free of the budget.
MEMBER_COST = 4096


class InflateStage(Stage):
    """Undoes `gzip` or `deflate` with a decompressobj, one bounded piece a pull.

    After a gzip member ends, the bytes the decompressor did not use are in
    `unused_data` and only there: stdlib zlib leaves a copy of them in
    `unconsumed_tail` as well, so that attribute is never read at the end of
    a member.
    """

    def __init__(self, name: str, notes: list[str], inflate: ModuleType | None = None) -> None:
        super().__init__(notes)
        self.name = name
        self._inflate = inflate or INFLATE
        self._obj = None
        self._tail = b""  # input given to the decompressor and not yet used
        self._more = False  # the last call filled its output: more may be held
        self._dead = False
        self._passthrough = False
        self.members = 0

    def pull(self) -> bytes:
        while not self._dead:
            if self._passthrough:
                return self._take(PIECE)
            if self._obj is None:
                if not self._start():
                    return b""
                continue
            obj = self._obj
            if obj.eof:
                self._member_ended(obj.unused_data)
                continue
            data = self._tail or self._take(IN_SLICE)
            if not data and not self._more:
                if self.ended:
                    self.notes.append(f"{self.name}: body ended before the compressed stream did")
                    self._dead = True
                return b""
            try:
                out = obj.decompress(data, PIECE)
            except _ERRORS as exc:
                self.notes.append(f"{self.name}: corrupt data ({exc}); scanned what decoded")
                self._dead = True
                return b""
            self._tail = b"" if obj.eof else obj.unconsumed_tail
            self._more = len(out) >= PIECE
            if out:
                return out
        return b""

    def _head(self, n: int) -> bytes:
        """The next `n` input bytes (fewer when not there yet), not consumed."""
        head = self._tail[:n]
        if len(head) < n:
            head += self._peek(n - len(head))
        return head

    def _start(self) -> bool:
        """Begins a member (gzip) or the stream; False when input is lacking
        to decide, or when the stream is over."""
        head = self._head(2)
        if len(head) < 2 and not self.ended:
            return False
        if self.members:
            # after a gzip member: another member, padding or garbage
            if head == GZIP_MAGIC:
                if not self.charge(MEMBER_COST):
                    self._dead = True
                    return False
                self._new_obj(16 + zlib.MAX_WBITS)
                return True
            self._trailing()
            return False
        if not head:
            self._dead = True  # an empty body
            return False
        if self.name == "gzip":
            if head != GZIP_MAGIC and GZIP_MAGIC.startswith(head):
                self.notes.append("gzip: body ended before the compressed stream did")
                self._dead = True
                return False
            if head != GZIP_MAGIC:
                # Mislabelled plain bodies are common; scanning them is better
                # than scanning nothing.
                self.notes.append("Content-Encoding gzip but body is not gzip; read as is")
                self._passthrough = True
                return True
            self._new_obj(16 + zlib.MAX_WBITS)
            return True
        # RFC 9110 deflate is zlib-wrapped, but many servers send raw deflate.
        zlib_header = len(head) == 2 and (head[0] & 0x0F) == 8 and (
            (head[0] << 8) | head[1]) % 31 == 0
        self._new_obj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        return True

    def push(self, data: bytes) -> None:
        if not self._dead:
            super().push(data)

    def _new_obj(self, wbits: int) -> None:
        self._obj = self._inflate.decompressobj(wbits)
        self._more = False
        self.members += 1

    def _member_ended(self, unused: bytes) -> None:
        self._obj = None
        self._more = False
        self._tail = unused
        if self.name != "gzip":
            self._trailing()

    def _trailing(self) -> None:
        rest = self._tail + self._take(4096)
        if rest.strip(b"\x00\r\n\t "):
            self.notes.append(f"{self.name}: trailing garbage after the compressed stream ignored")
        self._dead = True
