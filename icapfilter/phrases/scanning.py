"""Scanning a whole body that is already in memory (CLI, tests, benchmarks)."""

from __future__ import annotations

from .model import ScanResult
from .phraseset import PhraseSet

_CHUNK = 64 * 1024


def scan_bytes(
    phrase_set: PhraseSet,
    data: bytes,
    *,
    limit: int = 50,
    weighted_mode: str = "singular",
    filter_mode: str = "both",
    content_type: str | None = "text/html",
    content_encoding: str | None = None,
    max_scan_bytes: int = 2 * 1024 * 1024,
    max_decoded_bytes: int = 10 * 1024 * 1024,
    e2guardian_exact: bool = False,
) -> ScanResult:
    """Feed `data` in network-sized chunks, exactly as the ICAP path does."""
    scan = phrase_set.new_scan(
        limit=limit,
        weighted_mode=weighted_mode,
        filter_mode=filter_mode,
        content_type=content_type,
        content_encoding=content_encoding,
        max_scan_bytes=max_scan_bytes,
        max_decoded_bytes=max_decoded_bytes,
        e2guardian_exact=e2guardian_exact,
    )
    view = memoryview(data)
    for i in range(0, len(data), _CHUNK):
        if scan.certain:
            break
        scan.feed(bytes(view[i : i + _CHUNK]))
    return scan.finish()
