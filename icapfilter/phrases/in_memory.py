"""Scanning a whole body that is already in memory (CLI, tests, benchmarks)."""

from __future__ import annotations

from typing import Protocol

from ..scan_settings import DEFAULT_LIMIT, DEFAULT_SCAN, ScanSettings
from .body_scan import BodyScan
from .model import ScanResult
from .phraseset import PhraseSet

_CHUNK = 64 * 1024


class _Scan(Protocol):
    @property
    def certain(self) -> bool: ...
    def feed(self, raw_chunk: bytes) -> None: ...
    def finish(self) -> ScanResult: ...


def feed_whole(scan: _Scan, data: bytes) -> ScanResult:
    """Feed `data` in network-sized chunks, exactly as the ICAP path does."""
    view = memoryview(data)
    for i in range(0, len(data), _CHUNK):
        if scan.certain:
            break
        scan.feed(bytes(view[i : i + _CHUNK]))
    return scan.finish()


def scan_bytes(
    phrase_set: PhraseSet,
    data: bytes,
    settings: ScanSettings = DEFAULT_SCAN,
    *,
    limit: int = DEFAULT_LIMIT,
    content_type: str | None = "text/html",
    content_encoding: str | None = None,
) -> ScanResult:
    """The result of one body scanned as a response of this type and encoding."""
    scan = BodyScan(phrase_set, settings, limit=limit, content_type=content_type,
                    content_encoding=content_encoding)
    return feed_whole(scan, data)
