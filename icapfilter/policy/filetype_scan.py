"""The type of a body that does not say it, for the file-type rules.

A response without a usable Content-Type, or with ``application/octet-stream``,
is held until its first bytes are there (``RESOURCE_HEADER``, or the whole
body when shorter), which are sniffed (WHATWG, :mod:`~icapfilter.content.sniff`,
plus the executable formats the WHATWG table leaves out); a banned type
blocks, anything else hands the held bytes on to what the rest of the
policy decided (a phrase scan, or a verdict).
"""

from __future__ import annotations

from collections.abc import Callable

from ..content.decoding import ContentDecoder
from ..content.sniff import RESOURCE_HEADER, sniff
from ..verdict import Verdict
from .hook import ResponseScan

#: Raw bytes held at most before deciding on what was decoded so far.
MAX_HELD = 256 * 1024

_MAX_PE_OFFSET = 1 << 16
_PE_TYPES = ("application/x-msdownload", "application/vnd.microsoft.portable-executable",
             "application/x-dosexec")


def sniff_types(head: bytes) -> tuple[str, ...]:
    """The MIME types the first bytes of a body sniff as (several names
    for an executable, so any spelling a list uses matches)."""
    if head[:2] == b"MZ" and len(head) >= 0x40:
        offset = int.from_bytes(head[0x3C:0x40], "little")
        if head[offset:offset + 4] == b"PE\x00\x00" or len(head) < offset < _MAX_PE_OFFSET:
            # a PE header past the sniffed bytes is taken for one; text that
            # starts with "MZ" has an e_lfanew far beyond (four ASCII bytes)
            return _PE_TYPES
    if head[:4] == b"\x7fELF":
        return ("application/x-executable", "application/x-elf")
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return ("application/x-mach-binary",)
    return (sniff(head),)


class TypeSniffScan:
    """Holds a body until its type is sniffed; blocks it, or hands over."""

    def __init__(self, judge: Callable[[tuple[str, ...]], Verdict | None],
                 then: Verdict | ResponseScan, content_encoding: str | None) -> None:
        self._judge = judge
        self._then = then
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._head = bytearray()
        self._decided = False
        self._blocked: Verdict | None = None
        self._decoder: ContentDecoder | None = None
        if content_encoding:
            try:
                self._decoder = ContentDecoder(content_encoding, 4 * RESOURCE_HEADER)
            except ValueError:  # refused: the raw bytes are sniffed
                self._decoder = None
            if self._decoder is not None and self._decoder.unsupported:
                self._decoder = None

    @property
    def certain(self) -> bool:
        if not self._decided:
            return False
        if self._blocked is not None or isinstance(self._then, Verdict):
            return True
        return self._then.certain

    def feed(self, data: bytes) -> None:
        if self._decided:
            if self._blocked is None and not isinstance(self._then, Verdict):
                self._then.feed(data)
            return
        if not data:
            return
        self._held.append(data)
        self._held_bytes += len(data)
        self._read(data)
        if len(self._head) >= RESOURCE_HEADER or self._held_bytes >= MAX_HELD:
            self._decide()

    def _read(self, data: bytes) -> None:
        if self._decoder is None:
            self._head += data[:RESOURCE_HEADER - len(self._head)]
            return
        try:
            for piece in self._decoder.feed(data):
                self._head += piece[:RESOURCE_HEADER - len(self._head)]
                if len(self._head) >= RESOURCE_HEADER:
                    break
        except ValueError:  # a corrupt encoding: judge the bytes as they came
            self._decoder = None
            self._head = bytearray(b"".join(self._held)[:RESOURCE_HEADER])

    def _decide(self) -> None:
        self._decided = True
        self._blocked = self._judge(sniff_types(bytes(self._head)))
        held, self._held = self._held, []
        self._head = bytearray()
        if self._blocked is None and not isinstance(self._then, Verdict):
            for chunk in held:
                self._then.feed(chunk)

    def _result(self, final: bool) -> Verdict:
        if not self._decided and not final:
            # the answer must start before the type can be told (hold_bytes below
            # RESOURCE_HEADER): the bytes still to come decide, blocking late
            return self._then if isinstance(self._then, Verdict) else self._then.provisional()
        if not self._decided:
            if self._decoder is not None:
                try:
                    for piece in self._decoder.finish():
                        self._head += piece[:RESOURCE_HEADER - len(self._head)]
                except ValueError:
                    pass
            self._decide()
        if self._blocked is not None:
            return self._blocked
        if isinstance(self._then, Verdict):
            return self._then
        return self._then.finish() if final else self._then.provisional()

    def provisional(self) -> Verdict:
        return self._result(final=False)

    def finish(self) -> Verdict:
        return self._result(final=True)
