"""One URL verdict as data, shared by ``icapfilter check`` and the policy code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from icapfilter.urls.engine import UrlEngine, UrlHit
from icapfilter.urls.errors import InvalidUrl

#: The category of a URL blocked because it cannot be parsed (as in the server).
UNPARSEABLE = "unparseable-url"


def _default_blocks(hit: UrlHit) -> bool:
    return not hit.exception


def _default_allows(hit: UrlHit) -> bool:
    return hit.exception


def check_url(
    engine: UrlEngine,
    url: str,
    *,
    group: str = "default",
    blocks: Callable[[UrlHit], bool] | None = None,
    allows: Callable[[UrlHit], bool] | None = None,
) -> dict[str, Any]:
    """Verdict for ``url``: an allowing (exception) hit beats a blocking one.

    ``blocks``/``allows`` let the policy say which hits count for ``group``;
    by default every block category blocks and every exception allows.
    Raises InvalidUrl / StoreUnavailable like :meth:`UrlEngine.lookup`.
    """
    blocks = blocks or _default_blocks
    allows = allows or _default_allows
    hits = engine.lookup(url)
    decisive = next((h for h in hits if allows(h)), None)
    verdict = "allow"
    reason = f"exception list {decisive.category}" if decisive else "not listed"
    if decisive is None:
        decisive = next((h for h in hits if blocks(h)), None)
        verdict = "block" if decisive else "allow"
        if decisive:
            reason = f"listed in {decisive.category}"
    return {
        "url": url,
        "verdict": verdict,
        "reason": reason,
        "category": decisive.category if decisive else None,
        "entry": decisive.entry if decisive else None,
        "exception": decisive.exception if decisive else False,
        "group": group,
        "generation": engine.generation,
        "hits": [
            {"category": h.category, "entry": h.entry, "exception": h.exception} for h in hits
        ],
    }


def check_or_fail_closed(
    engine: UrlEngine,
    url: str,
    *,
    on_error: str = "block",
    group: str = "default",
    blocks: Callable[[UrlHit], bool] | None = None,
    allows: Callable[[UrlHit], bool] | None = None,
) -> dict[str, Any]:
    """:func:`check_url`, except that a URL that cannot be parsed gets the
    server's answer (``on_error``) instead of an exception: ``verdict`` and a
    ``reason`` of ``unparseable (<why>)``. Raises StoreUnavailable."""
    try:
        return check_url(engine, url, group=group, blocks=blocks, allows=allows)
    except InvalidUrl as exc:
        blocked = on_error != "allow"
        return {
            "url": url,
            "verdict": "block" if blocked else "allow",
            "reason": f"unparseable ({exc})",
            "category": UNPARSEABLE if blocked else None,
            "entry": None,
            "exception": False,
            "group": group,
            "generation": engine.generation,
            "hits": [],
        }
