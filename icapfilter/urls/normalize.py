"""Canonical forms of list entries and request URLs.

Entries and requests go through the same functions, so matching reduces to
comparing strings (and, in the stores, their hashes). The rules follow
squidGuard and e2guardian where they agree; see docs/lists.md for examples.

Keys carry a kind prefix so one hash space holds both kinds:

* ``d:<host>``       a domain entry: matches the host and every subdomain.
* ``u:<host><path>`` a URL entry: matches the host with ``www``, ``web`` or
  ``ftp`` labels (with optional digits) stripped from its front (not other
  subdomains) and a path prefix that ends at a segment boundary
  (``/ ? & = ;``).

Hosts are parsed as a browser parses them (:mod:`icapfilter.urls.hosts`).
The only exception raised here is :class:`InvalidEntry` (a ``ValueError``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from icapfilter.urls.errors import InvalidEntry, InvalidUrl
from icapfilter.urls.hosts import canonical_host, parse_ipv6

DOMAIN_PREFIX = "d:"
URL_PREFIX = "u:"
#: Marks a host that has URL entries, so hosts without any can be cached per host.
HOST_MARK_PREFIX = "h:"
#: The category id of a host mark; real categories start at 1.
HOST_MARK_ID = 0

#: Hostile URLs must not turn one decision into hundreds of lookups.
MAX_HOST_SUFFIXES = 10
#: Enough for a query-string entry (``?option=x&view=y&id=5&Itemid=7`` alone
#: has 8 boundaries): an entry deeper than this is only matched by URLs that
#: have at most this many boundaries.
MAX_PATH_PREFIXES = 32
#: Paths are cut here before matching: list entries are never that long.
MAX_PATH_LENGTH = 4096

EntryKind = Literal["domain", "url", "auto"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
#: ``http:/host`` or ``http:host``: browsers would guess, a list cannot judge it.
_SPECIAL_WITHOUT_SLASHES = re.compile(r"^(?:https?|ftp|wss?):(?!//)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
#: A CONNECT target as Squid sends it: ``host:port``, no scheme, no path.
_AUTHORITY_FORM = re.compile(r"^[^/?#\\@]+:[0-9]+$")
#: Labels squidGuard strips from request hosts before URL-list lookups; here
#: they are stripped (repeatedly) from both sides, never down to a bare TLD.
_URL_HOST_PREFIX = re.compile(r"^(?:(?:www|web|ftp)[0-9]*\.)+(?=[^.]+\.)")
_DOMAIN_HOST_PREFIX = re.compile(r"^www[0-9]*\.(?=[^.]+\.)")
_DEFAULT_BOUNDARIES = frozenset("/?&=;")
_TRAILING_BOUNDARIES = "/?&=;"
#: Escapes of delimiters that servers decode before routing (nginx turns
#: ``%2F`` into ``/``, PHP splits a decoded query): compared decoded, so
#: ``a%2Fb`` is ``a/b`` for matching, in entries and requests alike.
_DELIMITER_ESCAPES = (("%2F", "/"), ("%3F", "?"), ("%26", "&"), ("%3D", "="), ("%3B", ";"))

_UNRESERVED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
#: Characters kept literally in a path (RFC 3986 pchar plus ``/?``), except ``%``.
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/?")
# A canonical domain: lowercase LDH labels of 1-63 characters, a dot between
# them, a last label with a letter that is not a hex number (so no IPv4), no
# punycode, at most 253 chars.
_PLAIN_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(?!.*(?:^|\.)xn--)"
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"(?=[a-z0-9-]*[a-z])(?!0x[0-9a-f]*$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
_PLAIN_PATH = re.compile(r"^[a-z0-9\-._~!$&'()*+,;=:@/?]*$")
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class NormalizedUrl:
    """A request reduced to what matching looks at (port and scheme are ignored)."""

    host: str
    path: str
    is_ip: bool
    #: a CONNECT target (``host:port``, no scheme, no path): what blanket
    #: blocks of tunnels (``**s``, ``**ips``) judge
    tunnel: bool = False

    @property
    def key(self) -> str:
        """The cache key: identical for every spelling of the same request."""
        return self.host + self.path + (" tunnel" if self.tunnel else "")


def _split(text: str) -> tuple[str, str]:
    """Split into (authority, path+query); tolerant of missing schemes and CONNECT targets.

    A backslash ends the authority as ``/`` does: browsers read
    ``http://listed.example\\@other.example/`` as a request to ``listed.example``.
    """
    if _CONTROL.search(text):
        raise InvalidEntry("control character or whitespace in entry")
    match = _SCHEME.match(text)
    if match:
        text = text[match.end() :]
    elif _SPECIAL_WITHOUT_SLASHES.match(text):
        raise InvalidEntry("scheme not followed by //")
    cut = len(text)
    for sep in "/?#\\":
        pos = text.find(sep)
        if 0 <= pos < cut:
            cut = pos
    authority, rest = text[:cut], text[cut:]
    if "#" in rest:
        rest = rest[: rest.index("#")]
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    return authority, rest


def _host_of(authority: str, strict: bool = True) -> tuple[str, bool]:
    """Return (host, is_ip) with the port dropped: lists judge hosts, not ports."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise InvalidEntry("unterminated IPv6 literal")
        port = authority[end + 1 :]
        if port and not (port.startswith(":") and _valid_port(port[1:])):
            raise InvalidEntry("invalid port")
        return parse_ipv6(authority[1:end])
    colons = authority.count(":")
    if colons > 1:
        return parse_ipv6(authority)
    if colons == 1:
        authority, port = authority.split(":")
        if not _valid_port(port):
            raise InvalidEntry("invalid port")
    return canonical_host(authority, strict=strict)


def _valid_port(port: str) -> bool:
    return port == "" or (port.isascii() and port.isdigit() and int(port) <= 65535)


def normalize_host(host: str) -> str:
    """Lowercase ASCII (punycode) form of a list entry's host name or IP literal."""
    return canonical_host(host, strict=True)[0]


def _percent_normalize(path: str) -> str:
    """Lowercase, decode unreserved escapes, uppercase the rest (``%7e`` == ``~``)."""
    path = path.lower()  # first: lower() may turn one char into several
    out: list[str] = []
    i, n = 0, len(path)
    while i < n:
        ch = path[i]
        if ch == "%":
            if i + 2 < n and path[i + 1] in _HEX and path[i + 2] in _HEX:
                decoded = chr(int(path[i + 1 : i + 3], 16))
                if decoded in _UNRESERVED:
                    out.append(decoded.lower())
                else:
                    out.append("%" + path[i + 1 : i + 3].upper())
                i += 3
                continue
            out.append("%25")
        elif ch in _PATH_SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """Resolve ``.``/``..`` and collapse ``//`` so ``/a/../bad`` can't dodge ``/bad``.

    A segment's ``;parameters`` do not hide a dot segment (``/x/..;/bad``),
    since Java servers drop them before resolving.
    """
    out: list[str] = []
    for seg in path.split("/"):
        bare = seg.split(";", 1)[0] if ";" in seg else seg
        if bare in ("", "."):
            continue
        if bare == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return "/" + "/".join(out) if out else ""


def _decode_delimiters(path: str) -> str:
    for escape, char in _DELIMITER_ESCAPES:
        if escape in path:
            path = path.replace(escape, char)
    return path


def normalize_path(raw: str) -> str:
    """Canonical path+query: '' for the root, starting with ``/`` otherwise,
    no trailing ``/ ? & = ;``.

    Paths compare case-insensitively, as in squidGuard and e2guardian (both
    lowercase the whole URL); percent escapes keep uppercase hex, except the
    delimiters of :data:`_DELIMITER_ESCAPES`, which are decoded (after the
    real ``?`` split the path from the query and dot segments were resolved),
    and ``\\`` in the path, which is ``/`` as in browsers and IIS.
    """
    raw = raw[:MAX_PATH_LENGTH]
    result = _normalize_path_once(raw)
    # Decoding or trimming can expose another dot segment (``/a/.%3Fx``,
    # ``/a/.=``): repeat until stable, so entries and requests agree.
    for _ in range(3):
        if result == raw:
            break
        raw, result = result, _normalize_path_once(result)
    return result


def _normalize_path_once(raw: str) -> str:
    """One pass of :func:`normalize_path`."""
    if not raw:
        return ""
    if raw[0] != "/":
        raw = "/" + raw  # as browsers send it: http://host?q is http://host/?q
    path, sep, query = raw.partition("?")
    if not _PLAIN_PATH.match(raw):
        if "\\" in path:
            path = path.replace("\\", "/")
        path = _percent_normalize(path)
        query = _percent_normalize(query)
        if "%2F" in path:
            path = path.replace("%2F", "/")
    if "/." in path or "//" in path:
        path = _remove_dot_segments(path)
    result = path + sep + query
    if "%" in result:
        result = _decode_delimiters(result)
    result = result.rstrip(_TRAILING_BOUNDARIES)
    if result and result[0] != "/":
        result = "/" + result  # the path was all dot segments: /./?x
    return result


def parse_url(url: str) -> NormalizedUrl:
    """Normalize a request URL, a schemeless ``host/path`` or a CONNECT ``host:port``."""
    try:
        url = url.strip()
        authority, rest = _split(url)
        host, is_ip = _host_of(authority, strict=False)
        return NormalizedUrl(host, normalize_path(rest), is_ip,
                             _AUTHORITY_FORM.match(url) is not None)
    except InvalidEntry as exc:
        raise InvalidUrl(str(exc)) from None


def strip_url_host(host: str) -> str:
    """The host form URL entries are stored and looked up under: leading
    ``www``/``web``/``ftp`` labels (``web2.``, ``www.ftp.``) removed, as
    squidGuard removes one from request hosts, but never down to one label."""
    return _URL_HOST_PREFIX.sub("", host, count=1)


def normalize_entry(text: str, kind: EntryKind = "auto") -> str:
    """Return the kind-prefixed key of a list entry.

    ``kind`` is the kind of the file: a domain list line carrying a path
    becomes a URL entry (that is what its author meant); a URL list line
    without a path is a host-only URL entry (no subdomains, like squidGuard);
    ``auto`` picks by the presence of a path.
    """
    text = text.strip()
    if kind != "url" and _PLAIN_DOMAIN.match(text) and not _DOMAIN_HOST_PREFIX.match(text):
        # Most lines of a big domain list are already canonical: skip the
        # general parse (it made loading 1.8 M entries CPU-bound).
        return DOMAIN_PREFIX + text
    if text.startswith("*."):
        text = text[2:]
    text = text.lstrip(".")
    if not text:
        raise InvalidEntry("empty entry")
    authority, rest = _split(text)
    host, is_ip = _host_of(authority)
    path = normalize_path(rest)
    if path or kind == "url":
        return URL_PREFIX + (host if is_ip else strip_url_host(host)) + path
    return DOMAIN_PREFIX + (host if is_ip else _DOMAIN_HOST_PREFIX.sub("", host, count=1))


def entry_text(key: str) -> str:
    """The readable form of a key (what a hit reports as its ``entry``)."""
    return key[2:]


def host_suffixes(host: str, is_ip: bool = False) -> list[str]:
    """Every domain suffix, most specific first, capped for hostile hosts.

    The bare TLD is included: a domain entry ``xxx`` (or ``.xxx``) blocks the
    whole TLD, as in squidGuard. Beyond :data:`MAX_HOST_SUFFIXES` labels only
    the full host and the shortest suffixes are tried.
    """
    if is_ip:
        return [host]
    labels = host.split(".")
    n = len(labels)
    start = max(0, n - MAX_HOST_SUFFIXES)
    result = [".".join(labels[i:]) for i in range(start, n)]
    if start:
        result.insert(0, host)
    return result


def path_prefixes(path: str) -> list[str]:
    """Prefixes ending at ``/ ? & = ;`` boundaries, longest first, '' (host only) last.

    Entries never end in a boundary, so a prefix is cut only before the first
    of a run of boundaries (``&sport=&x`` gives ``&sport``).
    """
    prefixes = [""]
    for i in range(1, len(path)):
        if path[i] in _DEFAULT_BOUNDARIES and path[i - 1] not in _DEFAULT_BOUNDARIES:
            prefixes.append(path[:i])
            if len(prefixes) > MAX_PATH_PREFIXES:
                break
    if path and prefixes[-1] != path:
        prefixes.append(path)
    prefixes.reverse()
    return prefixes


def candidates_for(url: NormalizedUrl) -> list[str]:
    """All keys that could match ``url``: URL keys first (more specific), then domains."""
    url_host = url.host if url.is_ip else strip_url_host(url.host)
    keys = [URL_PREFIX + url_host + p for p in path_prefixes(url.path)]
    keys.extend(DOMAIN_PREFIX + s for s in host_suffixes(url.host, url.is_ip))
    return keys


def host_mark_for(url: NormalizedUrl) -> str:
    """The mark key telling whether any URL entry exists under this URL's host."""
    return HOST_MARK_PREFIX + (url.host if url.is_ip else strip_url_host(url.host))


def host_mark_of_entry(key: str) -> str | None:
    """The mark key a URL entry key implies (None for domain keys)."""
    if not key.startswith(URL_PREFIX):
        return None
    return HOST_MARK_PREFIX + key[len(URL_PREFIX):].split("/", 1)[0]  # paths start with /


def candidates(url: str) -> list[str]:
    """Keys to look up for a request URL, most specific first; raises :class:`InvalidUrl`."""
    return candidates_for(parse_url(url))
