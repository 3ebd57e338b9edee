"""The filter policy: filter groups, URL lists, phrase scanning, learned-mode
cache and rate limits, composed behind the :class:`~icapfilter.policy.Policy` hook.

Rules, in order, for a request:
1. the client's group is found (user name first, then the most specific
   network, else the default group);
2. over its rate limit, the client gets a 429 block page;
3. a URL on an exception list (or in a category the group allows) passes;
4. a URL in a category the group blocks is blocked;
5. when the list store cannot answer, or the URL cannot be parsed (no list
   can judge it), ``[store] on_error`` decides.
A response is scanned only when its URL passed without an exception, its
group scans, and its content type is a scanned text type.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import xxhash

from .config import GroupConfig, PhrasesConfig
from .content.decoding import DecodeRefused
from .content.sniff import needs_sniffing
from .content.sniffscan import SniffingScan
from .learned import LearnedCache
from .phrases import PhraseSet, ScanResult, is_scannable
from .phrases.scan import BodyScan
from .policy import Client, RequestInfo, ResponseInfo
from .ratelimit import RateLimiter
from .urls.check import UNPARSEABLE
from .urls.engine import UrlEngine, UrlHit
from .urls.errors import InvalidUrl, StoreUnavailable
from .verdict import Verdict

# The request header that tells Squid a URL's page was learned clean (see
# [learned] mark_requests and squid.conf.example).
LEARNED_MARK = "X-Icapfilter-Learned"
_SET_MARK = ((LEARNED_MARK, "clean"),)
_DROP_MARK = (LEARNED_MARK,)

log = logging.getLogger("icapfilter.policy")


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    users: frozenset[str]
    block: frozenset[str]
    allow: frozenset[str]
    limit: int
    scan: bool

    @classmethod
    def from_config(cls, config: GroupConfig) -> Group:
        users = frozenset(c[5:].lower() for c in config.clients if c.startswith("user:"))
        nets = tuple(ipaddress.ip_network(c, strict=False) for c in config.clients
                     if not c.startswith("user:"))
        return cls(config.name, nets, users, frozenset(config.block), frozenset(config.allow),
                   config.naughtiness_limit, config.scan)

    def blocks(self, category: str) -> bool:
        return category not in self.allow and ("*" in self.block or category in self.block)


class GroupMap:
    """Maps a client to its filter group, as e2guardian's filter groups do."""

    def __init__(self, groups: Sequence[GroupConfig]) -> None:
        self.groups = [Group.from_config(g) for g in groups]
        named = [g for g in self.groups if g.name == "default"]
        unassigned = [g for g in self.groups if not g.networks and not g.users]
        self.default = (named or unassigned or self.groups)[0]

    def match(self, client: Client) -> Group:
        if client.user:
            user = client.user.lower()
            for group in self.groups:
                if user in group.users:
                    return group
        if client.ip:
            try:
                address = ipaddress.ip_address(client.ip.split("%")[0])
            except ValueError:
                return self.default
            best: tuple[int, Group] | None = None
            for group in self.groups:
                for net in group.networks:
                    if address.version == net.version and address in net:
                        if best is None or net.prefixlen > best[0]:
                            best = (net.prefixlen, group)
            if best is not None:
                return best[1]
        return self.default


class _OnceLogger:
    """Logs a recurring fault once, then at most once a minute (not per request)."""

    def __init__(self, interval: float = 60.0, level: int = logging.ERROR) -> None:
        self.interval = interval
        self.level = level
        self._last = 0.0
        self._suppressed = 0
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        extra = f" ({suppressed} more since the last report)" if suppressed else ""
        log.log(self.level, "%s%s", message, extra)


class PhraseScan:
    """Adapts a phrase :class:`BodyScan` to the server's ResponseScan hook.

    A scan that fails (an exception, or a BodyScan that stopped on one) ends
    in a block: whatever made the scanner fail is in the response, which the
    origin controls, so allowing it would turn any such body into a way
    around the filter.
    """

    def __init__(self, scan: BodyScan, group: Group, on_finish) -> None:  # type: ignore[no-untyped-def]
        self._scan = scan
        self._group = group
        self._on_finish = on_finish
        self._failed: Verdict | None = None

    @property
    def certain(self) -> bool:
        return self._failed is not None or self._scan.certain

    def feed(self, data: bytes) -> None:
        if self._failed is not None:
            return
        try:
            self._scan.feed(data)
        except Exception as exc:  # noqa: BLE001 - a body must never crash the server
            self._fail(exc)

    def _fail(self, exc: BaseException | str) -> Verdict:
        if self._failed is None:
            self._failed = scan_failed(self._group, exc)
        return self._failed

    def _judge(self, final: bool) -> Verdict:
        if self._failed is not None:
            return self._failed
        try:
            result = self._scan.finish() if final else self._scan.provisional()
        except Exception as exc:  # noqa: BLE001
            return self._fail(exc)
        error = getattr(self._scan, "error", None)
        if error:
            return self._fail(error)
        return verdict_of_scan(result, self._group.name)

    def provisional(self) -> Verdict:
        verdict = self._judge(final=False)
        if verdict.blocked and verdict is not self._failed:
            # The server blocks on it (a page too large to hold, blocked from its
            # first part): learned mode must remember it like a finished scan,
            # or such pages are fetched and scanned again on every request.
            self._on_finish(verdict)
        return verdict

    def finish(self) -> Verdict:
        verdict = self._judge(final=True)
        if verdict is not self._failed:
            self._on_finish(verdict)
        return verdict


_scan_fault = _OnceLogger()


def scan_failed(group: Group, exc: BaseException | str) -> Verdict:
    """The verdict for a body that could not be scanned: always a block (see
    PhraseScan); a refused encoding is the body's fault, anything else a bug."""
    if isinstance(exc, DecodeRefused):
        detail = str(exc)
    else:
        detail = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        _scan_fault(f"scan failed, response blocked: {detail}")
    return Verdict.block(f"scan error: {detail}", "scan-error", group=group.name)


def verdict_of_scan(result: ScanResult, group: str) -> Verdict:
    shown = tuple(
        f"{hit.phrase} ({hit.list_kind}{'' if hit.list_kind != 'weighted' else f' {hit.weight:+d}'}"
        f"{f' x{hit.count}' if hit.count > 1 else ''})"
        for hit in result.phrases[:30]
    )
    if result.blocked:
        return Verdict.block(result.reason, result.category or "phrases", group=group,
                             score=result.score, phrases=shown,
                             bytes_scanned=result.bytes_scanned)
    return Verdict.allow(result.reason, group=group, score=result.score, phrases=shown,
                         bytes_scanned=result.bytes_scanned)


@lru_cache(maxsize=16)
def _generation_digest(url_generation: str, phrase_tag: str) -> str:
    # asked for by every transaction (ISTag, learned-cache keys); the inputs
    # change only when lists are reloaded
    return xxhash.xxh3_64_hexdigest(f"{url_generation}/{phrase_tag}".encode())[:16]


class FilterPolicy:
    def __init__(
        self,
        *,
        groups: GroupMap,
        urls: UrlEngine | None,
        phrases: PhraseSet | None,
        phrase_settings: PhrasesConfig,
        phrase_tag: str,
        on_error: str = "block",
        learned: LearnedCache | None = None,
        learned_ttl: int = 0,
        learned_mark: bool = False,
        ratelimit: RateLimiter | None = None,
        ratelimit_per: str = "ip",
        never_respmod: frozenset[str] = frozenset(),
    ) -> None:
        self.groups = groups
        self.urls = urls
        self.phrases = phrases
        self.phrase_settings = phrase_settings
        self.phrase_tag = phrase_tag
        self.on_error = on_error
        self.learned = learned
        self.learned_ttl = learned_ttl
        self.learned_mark = learned_mark and learned is not None and learned_ttl > 0
        self.ratelimit = ratelimit
        self.ratelimit_per = ratelimit_per
        # extensions whose learned verdict is never looked up (app._never_respmod)
        self.never_respmod = never_respmod
        self._store_fault = _OnceLogger()
        self.store_faults = 0
        self._unparseable_log = _OnceLogger(level=logging.WARNING)
        self.unparseable = 0

    def gauges(self) -> dict[str, float]:
        """Counters of the engines, for statistics."""
        data = {"icapfilter_store_faults_total": float(self.store_faults),
                "icapfilter_unparseable_urls_total": float(self.unparseable)}
        if self.urls is not None:
            data["icapfilter_url_cache_hits_total"] = float(self.urls.cache_hits)
            data["icapfilter_url_store_lookups_total"] = float(self.urls.store_lookups)
        return data

    @property
    def generation(self) -> str:
        url_generation = "none"
        if self.urls is not None:
            try:
                url_generation = self.urls.generation or "none"
            except StoreUnavailable:
                url_generation = "unavailable"
        return _generation_digest(url_generation, self.phrase_tag)

    # -- URLs ----------------------------------------------------------------

    def url_hits(self, url: str) -> list[UrlHit]:
        if self.urls is None:
            return []
        hits = self.urls.lookup(url)
        if not hits and self.urls.generation is None:
            # Lists that vanished (a Redis restarted without its data) must not
            # silently turn the filter off: treat it as a store fault.
            raise StoreUnavailable("no list generation is active: lists never loaded, "
                                   "or the store lost them (run `icapfilter lists load`)")
        return hits

    def url_verdict(self, group: Group, url: str, *, scanning: bool = False) -> Verdict | None:
        """Allow (exception), Block, or None when the URL is on no list that matters.

        With ``scanning`` (a response whose body can still be scanned), a store
        fault under ``on_error = "allow"`` gives None, so phrase scanning, which
        needs no store, still protects the page.
        """
        try:
            hits = self.url_hits(url)
        except InvalidUrl as exc:
            # A URL no list can judge must not pass unfiltered: anyone can
            # craft one (1.2.3.4.5, a broken IDN), so it gets on_error.
            self.unparseable += 1
            self._unparseable_log(f"unparseable URL {url[:200]!r}: {exc}; "
                                  f"applying on_error={self.on_error}")
            if self.on_error == "allow":
                return None
            return Verdict.block(f"unparseable URL ({exc})", UNPARSEABLE, group=group.name)
        except StoreUnavailable as exc:
            self.store_faults += 1
            self._store_fault(f"list store unavailable, applying on_error={self.on_error}: {exc}")
            if self.on_error == "allow":
                if scanning:
                    return None
                return Verdict.allow("list store unavailable (failing open)", group=group.name)
            return Verdict.block("the filter's list store is unavailable (failing closed)",
                                 "filter-unavailable", group=group.name, status=503)
        for hit in hits:
            if hit.exception or hit.category in group.allow:
                return Verdict.allow(f"exception list {hit.category}", category=hit.category,
                                     group=group.name, entry=hit.entry)
        for hit in hits:
            if group.blocks(hit.category):
                return Verdict.block(f"listed in {hit.category}", hit.category,
                                     group=group.name, entry=hit.entry)
        return None

    # -- the hook --------------------------------------------------------------

    def decide_request(self, request: RequestInfo) -> Verdict:
        group = self.groups.match(request.client)
        if self.ratelimit is not None:
            key = request.client.user if self.ratelimit_per == "user" else request.client.ip
            try:
                if key and not self.ratelimit.hit(key):
                    return Verdict.block("too many requests: rate limit exceeded", "rate-limit",
                                         group=group.name, status=429)
            except StoreUnavailable as exc:
                self._store_fault(f"rate limiter unavailable: {exc}")
        verdict = self.url_verdict(group, request.url)
        if verdict is None or not verdict.blocked:
            verdict = self._sni_verdict(group, request) or verdict
        # A client must never send the mark itself (it would skip RESPMOD): it
        # is dropped from every request allowed, whether marking is on or not,
        # and set only on a URL learned clean.
        if verdict is None:
            learned = self._learned_for_request(group, request) if self.learned_mark else None
            if learned is None:
                return Verdict.allow("not listed", group=group.name,
                                     drop_request_headers=_DROP_MARK)
            if learned.blocked:
                return learned
            return replace(learned, set_request_headers=_SET_MARK, drop_request_headers=_DROP_MARK)
        if verdict.blocked:
            return verdict
        return replace(verdict, drop_request_headers=_DROP_MARK)

    def _sni_verdict(self, group: Group, request: RequestInfo) -> Verdict | None:
        """The block a CONNECT earns by the TLS server name it will ask for, when
        that name differs from the host it named (an IP, or a front domain):
        either name on a list refuses the tunnel."""
        target = sni_target(request)
        if target is None:
            return None
        verdict = self.url_verdict(group, target)
        if verdict is None or not verdict.blocked:
            return None
        return replace(verdict, reason=f"{verdict.reason} (TLS server name {target})")

    def learned_page(self, request: RequestInfo) -> Verdict | None:
        """What RESPMOD would answer from the learned cache for this URL, asked
        before the response exists (the Squid helper's ``learned-clean``)."""
        return self._learned_for_request(self.groups.match(request.client), request)

    def _learned_for_request(self, group: Group, request: RequestInfo) -> Verdict | None:
        """The learned page verdict of a URL, at request time: a page already
        scanned need not travel through RESPMOD again (clean) or at all (blocked)."""
        if self.phrases is None or not group.scan or request.method not in ("GET", "HEAD"):
            return None
        if self.never_respmod and _extension(request.url) in self.never_respmod:
            # Never scanned (an image, by its Content-Type) or never sent to
            # RESPMOD (Transfer-Ignore), so never learned: asking would find a miss, a
            # Redis round trip for every image of a page (a quarter of the
            # warm benchmark's fetches). Skipping it can only cost a mark.
            return None
        return self._learned(group, self.generation, request.url)

    def _learned(self, group: Group, generation: str, url: str) -> Verdict | None:
        """The learned verdict of a page, or None (not learned, store down, corrupt)."""
        if self.learned is None or self.learned_ttl <= 0:
            return None
        try:
            cached = self.learned.get(group.name, generation, url)
        except StoreUnavailable:
            return None
        if cached is None:
            return None
        try:
            return _from_learned(cached, group.name)
        except ValueError:
            log.warning("ignoring a corrupt learned-cache value for %s", url)
            return None

    def begin_response(self, request: RequestInfo, response: ResponseInfo):  # type: ignore[no-untyped-def]
        group = self.groups.match(request.client)
        verdict = self.url_verdict(group, request.url, scanning=self.phrases is not None)
        if verdict is not None:
            return verdict
        if self.phrases is None or not group.scan:
            return Verdict.allow("not scanned", group=group.name)
        settings = self.phrase_settings
        # without a usable Content-Type a browser sniffs the body: so do we
        untyped = needs_sniffing(response.content_type)
        if not untyped and not is_scannable(response.content_type, settings.scan_types):
            return Verdict.allow("content type not scanned", group=group.name)
        if response.status in (204, 304) or 100 <= response.status < 200:
            return Verdict.allow("no body", group=group.name)
        generation = self.generation
        learned = self._learned(group, generation, request.url)
        if learned is not None:
            return learned
        try:
            scan = self._new_scan(group, response, untyped)
        except Exception as exc:  # noqa: BLE001 - e.g. an encoding chain refused
            return scan_failed(group, exc)

        def remember(verdict: Verdict) -> None:
            if self.learned is None or self.learned_ttl <= 0:
                return
            try:
                self.learned.put(group.name, generation, request.url, _to_learned(verdict),
                                 self.learned_ttl)
            except StoreUnavailable:
                pass

        return PhraseScan(scan, group, remember)

    def _new_scan(self, group: Group, response: ResponseInfo, untyped: bool):  # type: ignore[no-untyped-def]
        settings = self.phrase_settings
        assert self.phrases is not None
        phrases = self.phrases

        def new_scan(content_type: str | None) -> BodyScan:
            return phrases.new_scan(
                limit=group.limit, weighted_mode=settings.weighted_mode,
                filter_mode=settings.filter_mode, content_type=content_type,
                content_encoding=response.content_encoding,
                max_scan_bytes=settings.max_scan_bytes,
                max_decoded_bytes=settings.max_decoded_bytes,
                e2guardian_exact=settings.e2guardian_exact)

        if untyped:
            return SniffingScan(new_scan, response.content_encoding,
                                lambda mime: is_scannable(mime, settings.scan_types))
        return new_scan(response.content_type)


def sni_target(request: RequestInfo) -> str | None:
    """``sni:port`` for a CONNECT whose TLS server name is known and differs
    from its target's host, else None (Squid sends ``-`` for no SNI)."""
    if request.method.upper() != "CONNECT" or not request.sni:
        return None
    sni = request.sni.strip()
    if sni in ("", "-"):
        return None
    host, sep, port = request.url.rpartition(":")
    if not sep or not port.isdigit():
        host, port = request.url, "443"
    if sni.lower().rstrip(".") == host.strip("[]").lower().rstrip("."):
        return None
    return f"{sni}:{port}"


def _extension(url: str) -> str:
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


def _to_learned(verdict: Verdict) -> str:
    return "\t".join([verdict.action.value, verdict.category or "", verdict.reason,
                      str(verdict.score or 0), "\x1f".join(verdict.phrases)])


def _from_learned(value: str, group: str) -> Verdict:
    action, category, reason, score, phrases = (value.split("\t") + [""] * 5)[:5]
    details = {"group": group, "score": int(score or 0),
               "phrases": tuple(p for p in phrases.split("\x1f") if p)}
    if action == "block":
        return Verdict.block(f"{reason} (learned)", category or "phrases", **details)
    return Verdict.allow(f"{reason} (learned)", **details)
