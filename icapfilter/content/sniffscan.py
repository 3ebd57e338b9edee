"""A body scan for a response without a usable Content-Type.

Browsers render such a body when it sniffs as HTML or text, so it cannot be
let through unscanned, and it cannot be decided from the heads: the first
decoded bytes decide. Until they are there, the raw chunks are held (at
most `MAX_HELD` bytes); then they are replayed into a scan of the type the
body sniffed as, or, for an image or other binary body, the scan ends at
once and allows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..phrases.model import ScanResult
from .decoding import ContentDecoder
from .sniff import RESOURCE_HEADER, sniff

#: Raw bytes held before deciding on what was decoded so far (a zstd block
#: decodes only once complete, up to 128 KiB).
MAX_HELD = 256 * 1024
#: Decoding budget of the sniffing pass (the real scan decodes again).
_SNIFF_BUDGET = 256 * 1024


class BodyScanLike(Protocol):
    @property
    def certain(self) -> bool: ...
    def feed(self, raw_chunk: bytes) -> None: ...
    def provisional(self) -> ScanResult: ...
    def finish(self) -> ScanResult: ...


class SniffingScan:
    """Decides on the first decoded bytes whether and how the body is scanned.

    `new_scan(content_type)` makes the scan of the body read as that type;
    `scannable(content_type)` says whether that type is scanned at all.
    XML is scanned as HTML: a browser renders XHTML from it.
    """

    def __init__(self, new_scan: Callable[[str | None], BodyScanLike],
                 content_encoding: str | None, scannable: Callable[[str], bool]) -> None:
        self._new_scan = new_scan
        self._scannable = scannable
        self._decoder = ContentDecoder(content_encoding, _SNIFF_BUDGET)
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._head = bytearray()
        self._scan: BodyScanLike | None = None
        self._skipped: ScanResult | None = None
        #: The type the body sniffed as, once decided.
        self.sniffed: str | None = None
        if self._decoder.unsupported:
            # undecodable: the scan reports it (as for a typed body)
            self._scan = new_scan(None)

    @property
    def certain(self) -> bool:
        if self._skipped is not None:
            return True
        return self._scan is not None and self._scan.certain

    @property
    def error(self) -> str | None:
        return getattr(self._scan, "error", None)

    def feed(self, raw_chunk: bytes) -> None:
        if self._scan is not None:
            self._scan.feed(raw_chunk)
            return
        if self._skipped is not None or not raw_chunk:
            return
        self._held.append(raw_chunk)
        self._held_bytes += len(raw_chunk)
        self._read_head(self._decoder.feed(raw_chunk))
        if (len(self._head) >= RESOURCE_HEADER or self._decoder.done
                or self._held_bytes >= MAX_HELD):
            self._decide()

    def _read_head(self, pieces) -> None:  # type: ignore[no-untyped-def]
        for piece in pieces:
            self._head += piece
            if len(self._head) >= RESOURCE_HEADER:
                break

    def _decide(self) -> None:
        mime = self.sniffed = sniff(bytes(self._head[:RESOURCE_HEADER]))
        scan_as = "text/html" if mime == "text/xml" else mime
        held, self._held = self._held, []
        self._head = bytearray()
        if not self._scannable(scan_as):
            self._skipped = ScanResult(
                blocked=False, score=0, reason=f"not scanned: no Content-Type, body is {mime}",
                category=None, phrases=[], bytes_scanned=0, truncated=False)
            return
        scan = self._new_scan(scan_as)
        for chunk in held:
            scan.feed(chunk)
        self._scan = scan

    def _result(self, final: bool) -> ScanResult:
        if self._scan is None and self._skipped is None:
            if final and len(self._head) < RESOURCE_HEADER:
                self._read_head(self._decoder.finish())
            self._decide()
        if self._skipped is not None:
            return self._skipped
        assert self._scan is not None
        return self._scan.finish() if final else self._scan.provisional()

    def provisional(self) -> ScanResult:
        """Decides on the bytes read so far when the answer cannot wait."""
        return self._result(final=False)

    def finish(self) -> ScanResult:
        return self._result(final=True)
