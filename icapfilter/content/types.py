"""Which responses are worth a phrase scan at all."""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_SCAN_TYPES: tuple[str, ...] = (
    "text/html",
    "text/plain",
    "application/xhtml+xml",
    "application/json",
    "application/javascript",
    "text/javascript",
)

HTML_TYPES: frozenset[str] = frozenset({"text/html", "application/xhtml+xml"})


def media_type(content_type: str | None) -> str | None:
    """`Text/HTML; charset=x` -> `text/html`; None when absent or empty."""
    if not content_type:
        return None
    mt = content_type.split(";", 1)[0].strip().lower()
    return mt or None


def is_scannable(content_type: str | None, scan_types: Iterable[str] | None = None) -> bool:
    """Whether a response body of this type should go through the phrase filter.

    Images, video and archives would only cost CPU and produce nonsense hits.
    A missing Content-Type is not scanned (Squid passes such bodies as-is);
    entries may end in `/*` to take a whole top-level type.
    """
    mt = media_type(content_type)
    if mt is None:
        return False
    for entry in DEFAULT_SCAN_TYPES if scan_types is None else scan_types:
        want = entry.strip().lower()
        if want.endswith("/*"):
            if mt.startswith(want[:-1]):
                return True
        elif mt == want:
            return True
    return False


def is_html(content_type: str | None) -> bool:
    """HTML gets markup stripping and the `<meta charset>` prescan."""
    mt = media_type(content_type)
    return mt is None or mt in HTML_TYPES
