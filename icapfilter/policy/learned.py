"""Learned mode: page verdicts remembered after a scan, and the request mark.

A page scanned once need not travel through RESPMOD again while its verdict
is remembered (``[learned] ttl``): RESPMOD answers from the cache, and with
``mark_requests`` REQMOD marks a request for a page learned clean, so a Squid
with the matching ACL (squid.conf.example) skips RESPMOD for it altogether.
A page learned blocked is blocked at request time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from ..learned import LearnedCache
from ..urls.errors import StoreUnavailable
from ..verdict import Verdict
from .groups import Group
from .hook import RequestInfo

log = logging.getLogger("icapfilter.policy")

#: The request header that tells Squid a URL's page was learned clean (see
#: [learned] mark_requests and squid.conf.example).
LEARNED_MARK = "X-Icapfilter-Learned"
_SET_MARK = ((LEARNED_MARK, "clean"),)
_DROP_MARK = (LEARNED_MARK,)


def marked(url_verdict: Verdict | None, learned: Verdict | None, group: Group) -> Verdict:
    """The REQMOD verdict from the lists' verdict and the page's learned one.

    A client must never send the mark itself (it would skip RESPMOD): it is
    dropped from every request allowed, whether marking is on or not, and set
    only on a URL learned clean. A URL the lists judged is not looked up.
    """
    if url_verdict is None:
        if learned is None:
            return Verdict.allow("not listed", group=group.name, drop_request_headers=_DROP_MARK)
        if learned.blocked:
            return learned
        return replace(learned, set_request_headers=_SET_MARK, drop_request_headers=_DROP_MARK)
    if url_verdict.blocked:
        return url_verdict
    return replace(url_verdict, drop_request_headers=_DROP_MARK)


class LearnedPages:
    """The learned cache of one policy: what it answers and what it keeps."""

    def __init__(self, cache: LearnedCache | None = None, ttl: int = 0, *, mark: bool = False,
                 never_respmod: frozenset[str] = frozenset()) -> None:
        self.cache = cache if ttl > 0 else None
        self.ttl = ttl
        #: mark requests for pages learned clean (needs a cache)
        self.mark = mark and self.cache is not None
        # extensions whose learned verdict is never looked up (app._never_respmod)
        self.never_respmod = never_respmod

    def get(self, group: Group, generation: str, url: str) -> Verdict | None:
        """The learned verdict of a page, or None (not learned, store down, corrupt)."""
        if self.cache is None:
            return None
        try:
            cached = self.cache.get(group.name, generation, url)
        except StoreUnavailable:
            return None
        if cached is None:
            return None
        try:
            return decode(cached, group.name)
        except ValueError:
            log.warning("ignoring a corrupt learned-cache value for %s", url)
            return None

    def asks_for(self, request: RequestInfo) -> bool:
        """Whether a page verdict is looked up at request time: not for a
        method whose response is never learned, nor an extension never scanned."""
        if self.cache is None or request.method not in ("GET", "HEAD"):
            return False
        # Never scanned (an image, by its Content-Type) or never sent to
        # RESPMOD (Transfer-Ignore), so never learned: asking would find a
        # miss, a Redis round trip for every image of a page. Skipping it can
        # only cost a mark.
        return not (self.never_respmod and extension(request.url) in self.never_respmod)

    def keeper(self, group: Group, generation: str, url: str) -> Callable[[Verdict], None]:
        """What a finished scan calls with its verdict, to learn it."""
        cache, ttl = self.cache, self.ttl

        def remember(verdict: Verdict) -> None:
            if cache is None:
                return
            try:
                cache.put(group.name, generation, url, encode(verdict), ttl)
            except StoreUnavailable:
                pass

        return remember


def extension(url: str) -> str:
    """The lower-case extension of a URL's last path segment; "" when there is
    none or the URL has a query (Squid may then see another extension)."""
    if "?" in url:
        return ""
    rest = url.split("://", 1)[-1]
    if "/" not in rest:
        return ""
    segment = rest[rest.rfind("/") + 1:]
    dot = segment.rfind(".")
    return segment[dot + 1:].lower() if dot >= 0 else ""


def encode(verdict: Verdict) -> str:
    """A verdict as the learned cache keeps it (one line of tab-separated fields)."""
    return "\t".join([verdict.action.value, verdict.category or "", verdict.reason,
                      str(verdict.score or 0), "\x1f".join(verdict.phrases)])


def decode(value: str, group: str) -> Verdict:
    """The verdict :func:`encode` kept; raises ValueError on a corrupt value."""
    action, category, reason, score, phrases = (value.split("\t") + [""] * 5)[:5]
    details = {"group": group, "score": int(score or 0),
               "phrases": tuple(p for p in phrases.split("\x1f") if p)}
    if action == "block":
        return Verdict.block(f"{reason} (learned)", category or "phrases", **details)
    return Verdict.allow(f"{reason} (learned)", **details)
