"""SafeSearch: search requests rewritten as the engines document it.

Google ``safe=active``, Bing ``adlt=strict``, DuckDuckGo ``kp=1``, Yahoo
``vm=r`` in the query string, and ``YouTube-Restrict: Strict`` on requests
to YouTube's hosts. A parameter the client set to something else
(``safe=off``, or a percent-encoded ``saf%65=off``) is replaced, never
joined by a second one an engine might read first. Everything else in the
query keeps its bytes and order. Only a request REQMOD sees decrypted (plain
HTTP, or HTTPS bumped by Squid) can be rewritten; docs/squid.md says what
DNS does for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import unquote_plus

from ..config import GroupConfig
from ..urls.errors import InvalidEntry
from ..urls.hosts import canonical_host
from ..verdict import Action, Verdict
from .hook import RequestInfo

YOUTUBE_HEADER = "YouTube-Restrict"
YOUTUBE_VALUE = "Strict"
YOUTUBE_HOSTS = frozenset({"www.youtube.com", "m.youtube.com", "youtubei.googleapis.com",
                           "youtube.googleapis.com", "www.youtube-nocookie.com"})


@dataclass(frozen=True, slots=True)
class Engine:
    name: str
    host: re.Pattern[str]
    #: paths that are searches even without the search parameter
    paths: frozenset[str]
    search_key: str
    key: str
    value: str


# Country domains: google.de, google.co.uk, google.com.au (a registrable
# name under one or two labels of at most three letters).
_CC = r"(?:com|[a-z]{2,3}|co\.[a-z]{2}|com\.[a-z]{2})"
ENGINES = (
    Engine("google", re.compile(rf"(?:www\.)?google\.{_CC}"),
           frozenset({"/search", "/webhp", "/images", "/imghp", "/videohp", "/complete/search"}),
           "q", "safe", "active"),
    Engine("bing", re.compile(r"(?:www\.|cn\.)?bing\.com"),
           frozenset({"/search", "/images/search", "/videos/search", "/news/search",
                      "/images/async", "/videos/async"}),
           "q", "adlt", "strict"),
    Engine("duckduckgo", re.compile(r"(?:www\.|html\.|lite\.|links\.)?duckduckgo\.com"),
           frozenset({"/html", "/html/", "/lite", "/lite/", "/d.js", "/i.js", "/v.js"}),
           "q", "kp", "1"),
    Engine("yahoo", re.compile(r"(?:[a-z0-9-]+\.)*search\.yahoo\.com"),
           frozenset({"/search", "/search/images", "/search/video"}),
           "p", "vm", "r"),
)


def split_url(url: str) -> tuple[str, str, str] | None:
    """(host, path, query) of an absolute http(s) URL, the host canonical as
    the URL lists read it (``WWW.GOOGLE.COM.:80``, ``www.%67oogle.com`` and
    fullwidth letters are ``www.google.com``); None for anything else (a
    CONNECT authority, a host no browser could reach)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    rest = rest.split("#", 1)[0]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, target = rest[:cut], rest[cut:]
    host = authority.rpartition("@")[2]
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        host = canonical_host(host)[0]
    except InvalidEntry:
        return None
    path, _, query = target.partition("?")
    return host, path or "/", query


def _name(piece: str) -> str:
    return unquote_plus(piece.partition("=")[0], errors="replace").strip().lower()


def enforce(query: str, key: str, value: str) -> str | None:
    """``query`` with every ``key`` (any case, any percent-encoding) removed
    and one ``key=value`` appended; None when its only ``key`` is already
    ``key=value`` (nothing to rewrite)."""
    pieces = [p for p in query.split("&") if p] if query else []
    wanted = f"{key}={value}"
    kept = [p for p in pieces if _name(p) != key]
    if len(kept) == len(pieces) - 1 and wanted in pieces:
        return None
    return "&".join([*kept, wanted])


@dataclass(frozen=True, slots=True)
class Rewrite:
    """What one request needs: a new query string, or the YouTube header."""

    engine: str
    query: str | None = None
    youtube_header: bool = False


def rewrite(request: RequestInfo) -> Rewrite | None:
    """The rewrite a request needs; None when no engine is concerned or the
    request is already as the engine wants it (the YouTube header is checked
    by :meth:`SafeSearch.apply`, which sees the headers)."""
    if request.method.upper() == "CONNECT":
        return None
    parts = split_url(request.url)
    if parts is None:
        return None
    host, path, query = parts
    if host in YOUTUBE_HOSTS:
        return Rewrite("youtube", youtube_header=True)
    for engine in ENGINES:
        if engine.host.fullmatch(host) is None:
            continue
        names = {_name(p) for p in query.split("&")} if query else set()
        if path in engine.paths or path.rstrip("/") in engine.paths \
                or engine.search_key in names:
            new_query = enforce(query, engine.key, engine.value)
            return None if new_query is None else Rewrite(engine.name, new_query)
        return None
    return None


class SafeSearch:
    """SafeSearch for the groups that have ``safesearch = true``."""

    def __init__(self, groups: frozenset[str]) -> None:
        self.groups = groups

    @classmethod
    def from_groups(cls, groups: Iterable[GroupConfig]) -> SafeSearch | None:
        """None when no group asks for SafeSearch."""
        names = frozenset(g.name for g in groups if g.safesearch)
        return cls(names) if names else None

    def apply(self, group: str, request: RequestInfo, verdict: Verdict) -> Verdict:
        """``verdict`` (an allow) with the rewrite the request needs, if any."""
        if group not in self.groups or verdict.blocked:
            return verdict
        needed = rewrite(request)
        if needed is None:
            return verdict
        reason = f"safesearch: {needed.engine}"
        if needed.youtube_header:
            if request.headers.get_all(YOUTUBE_HEADER) == [YOUTUBE_VALUE]:
                return verdict
            return replace(
                verdict, action=Action.REWRITE, reason=reason,
                set_request_headers=(*verdict.set_request_headers,
                                     (YOUTUBE_HEADER, YOUTUBE_VALUE)),
                drop_request_headers=(*verdict.drop_request_headers, YOUTUBE_HEADER))
        return replace(verdict, action=Action.REWRITE, reason=reason, rewrite_query=needed.query)
