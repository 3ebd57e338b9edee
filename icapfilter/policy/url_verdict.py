"""What the URL lists say about a URL for one group: exceptions beat bans.

The server (REQMOD, RESPMOD, the Squid helper) and ``icapfilter check`` all
come through :meth:`UrlVerdicts.report`, so ``check`` shows what the server
decides, down to unparseable URLs and lists that vanished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..urls.engine import UrlEngine, UrlHit
from ..urls.errors import InvalidUrl, StoreUnavailable
from ..urls.normalize import parse_url
from ..urls.rules import blanket_reason, covers, scope_of, switch_of
from ..verdict import Verdict
from .failure import FailurePolicy, unparseable_verdict
from .groups import Group
from .hook import RequestInfo


@dataclass(frozen=True, slots=True)
class UrlRuling:
    """The hit that decides a URL for a group, and whether it blocks."""

    hit: UrlHit
    blocked: bool

    def verdict(self, group: Group) -> Verdict:
        hit = self.hit
        if self.blocked:
            reason = blanket_reason(hit.entry) if hit.source else None
            return Verdict.block(reason or f"listed in {hit.category}", hit.category,
                                 group=group.name, entry=hit.entry)
        return Verdict.allow(f"exception list {hit.category}", category=hit.category,
                             group=group.name, entry=hit.entry)


def rule(group: Group, hits: Sequence[UrlHit], url: str = "") -> UrlRuling | None:
    """An exception hit (or a category the group allows) beats any blocking
    hit, and the group's own blanket block; None when nothing matters to
    this group."""
    for hit in hits:
        if hit.exception or group.allows(hit.category):
            return UrlRuling(hit, blocked=False)
    for hit in hits:
        if group.blocks(hit.category):
            return UrlRuling(hit, blocked=True)
    blanket = group_blanket(group, url) if group.blanket else None
    return None if blanket is None else UrlRuling(blanket, blocked=True)


#: The category of a block by a group's ``blanket`` setting.
BLANKET_CATEGORY = "blanket"


def group_blanket(group: Group, url: str) -> UrlHit | None:
    """The hit of the group's ``blanket`` setting when it covers ``url``
    (an unparseable URL is ``on_error``'s, not this)."""
    try:
        parsed = parse_url(url)
    except InvalidUrl:
        return None
    scope = scope_of(group.blanket)
    if not covers(scope, parsed.is_ip, parsed.tunnel):
        return None
    return UrlHit(BLANKET_CATEGORY, switch_of(scope), False,
                  f"group {group.name}: blanket = {group.blanket!r}")


@dataclass(frozen=True, slots=True)
class UrlReport:
    """Everything behind one URL's verdict, for the server and ``icapfilter check``."""

    url: str
    group: Group
    #: None: the URL is on no list that matters (or unparseable under on_error allow)
    verdict: Verdict | None
    ruling: UrlRuling | None = None
    hits: tuple[UrlHit, ...] = ()
    #: why the URL could not be parsed, when it could not
    unparseable: str | None = None


def lookup_hits(engine: UrlEngine, url: str) -> list[UrlHit]:
    """The engine's hits; raises StoreUnavailable when no list generation is
    active: lists that vanished (a Redis restarted without its data) must not
    silently turn the filter off."""
    hits = engine.lookup(url)
    if not hits and engine.generation is None:
        raise StoreUnavailable("no list generation is active: lists never loaded, "
                               "or the store lost them (run `icapfilter lists load`)")
    return hits


class UrlVerdicts:
    """The URL lists of one policy, with its failure policy."""

    def __init__(self, engine: UrlEngine | None, failure: FailurePolicy) -> None:
        self.engine = engine
        self.failure = failure

    @property
    def generation(self) -> str:
        """The lists' generation for the ISTag and learned keys; never raises."""
        if self.engine is None:
            return "none"
        try:
            return self.engine.generation or "none"
        except StoreUnavailable:
            return "unavailable"

    def report(self, group: Group, url: str) -> UrlReport:
        """The lists' verdict on ``url`` for ``group``; an unparseable URL gets
        ``on_error``. Raises StoreUnavailable (the caller decides: the server
        applies on_error, ``check`` reports the fault)."""
        if self.engine is None:
            ruling = rule(group, (), url)
            verdict = None if ruling is None else ruling.verdict(group)
            return UrlReport(url, group, verdict, ruling)
        try:
            hits = tuple(lookup_hits(self.engine, url))
        except InvalidUrl as exc:
            verdict = unparseable_verdict(self.failure.on_error, group, exc)
            return UrlReport(url, group, verdict, unparseable=str(exc))
        ruling = rule(group, hits, url)
        verdict = None if ruling is None else ruling.verdict(group)
        return UrlReport(url, group, verdict, ruling, hits)

    def verdict(self, group: Group, url: str, *, scanning: bool = False) -> Verdict | None:
        """Allow (exception), block, or None when the URL is on no list that
        matters; a store fault gets ``on_error`` (see failure.store_down_verdict)."""
        if self.engine is None:
            ruling = rule(group, (), url)
            return None if ruling is None else ruling.verdict(group)
        try:
            hits = lookup_hits(self.engine, url)
        except InvalidUrl as exc:
            return self.failure.unparseable_url(group, url, exc)
        except StoreUnavailable as exc:
            return self.failure.store_unavailable(group, exc, scanning=scanning)
        if not hits and not group.blanket:  # most requests
            return None
        ruling = rule(group, hits, url)
        return None if ruling is None else ruling.verdict(group)

    def sni_verdict(self, group: Group, request: RequestInfo) -> Verdict | None:
        """The block a CONNECT earns by the TLS server name it will ask for, when
        that name differs from the host it named (an IP, or a front domain):
        either name on a list refuses the tunnel."""
        target = sni_target(request)
        if target is None:
            return None
        verdict = self.verdict(group, target)
        if verdict is None or not verdict.blocked:
            return None
        return replace(verdict, reason=f"{verdict.reason} (TLS server name {target})")


def sni_target(request: RequestInfo) -> str | None:
    """``sni:port`` for a CONNECT whose TLS server name is known and differs
    from its target's host, else None (Squid sends ``-`` for no SNI)."""
    if request.method.upper() != "CONNECT" or not request.sni:
        return None
    sni = request.sni.strip()
    if sni in ("", "-"):
        return None
    host, sep, port = request.url.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()):
        host, port = request.url, "443"
    if sni.lower().rstrip(".") == host.strip("[]").lower().rstrip("."):
        return None
    return f"{sni}:{port}"
