"""Sans-IO rendering of ICAP responses (RFC 3507 4.3.3, 4.4).

The ``Encapsulated`` header is always computed here from the parts actually
sent, never set by hand: a stale body flag was e2guardian's "ICAP protocol
error" (#679).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from email.utils import formatdate
from functools import lru_cache

REASONS = {
    100: "Continue",
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "ICAP Service Not Found",
    405: "Method Not Allowed For Service",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    500: "Server Error",
    501: "Method Not Implemented",
    503: "Service Overloaded",
    505: "ICAP Version Not Supported",
}

HTTP_REASONS = {403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable"}

LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"ICAP/1.0 100 Continue\r\n\r\n"


def _date_line() -> bytes:
    return _date_for(int(time.time()))


@lru_cache(maxsize=2)
def _date_for(second: int) -> bytes:
    """The Date header, formatted once a second (formatting showed in profiles)."""
    return f"Date: {formatdate(second, usegmt=True)}\r\n".encode()


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body; empty data would end the body, so it renders nothing."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def _header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    lines = []
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} would break the message framing")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1", "replace")


def icap_response(
    status: int,
    headers: Iterable[tuple[str, str]],
    *,
    req_hdr: bytes | None = None,
    res_hdr: bytes | None = None,
    body: bool = False,
) -> bytes:
    """An ICAP response head plus its encapsulated HTTP heads.

    When ``body`` is true the chunked body follows and the caller sends it.
    The body entity is ``res-body`` whenever a response head is encapsulated,
    else ``req-body``.
    """
    parts: list[str] = []
    offset = 0
    for name, section in (("req-hdr", req_hdr), ("res-hdr", res_hdr)):
        if section is not None:
            parts.append(f"{name}={offset}")
            offset += len(section)
    if body:
        parts.append(f"{'res-body' if res_hdr is not None else 'req-body'}={offset}")
    else:
        parts.append(f"null-body={offset}")
    head = (
        f"ICAP/1.0 {status} {REASONS.get(status, 'Unknown')}\r\n".encode()
        + _header_block(headers)
        + _date_line()
        + f"Encapsulated: {', '.join(parts)}\r\n\r\n".encode()
    )
    return head + (req_hdr or b"") + (res_hdr or b"")


def http_response_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    reason = HTTP_REASONS.get(status, "Blocked")
    return f"HTTP/1.1 {status} {reason}\r\n".encode() + _header_block(headers) + b"\r\n"


def error_response(status: int, istag: str, message: str = "") -> bytes:
    """An ICAP error answer; the connection is closed after it."""
    headers = [("ISTag", istag), ("Connection", "close")]
    if message:
        # X-Error is informational only; keep it on one printable line.
        clean = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in message)[:200]
        headers.append(("X-Error", clean))
    return icap_response(status, headers)


def rewrite_http_head(raw: bytes, drop: Iterable[str] = (),
                      add: Iterable[tuple[str, str]] = (), query: str | None = None) -> bytes:
    """``raw`` (a parsed HTTP request head, ending with its blank line)
    without the fields named in ``drop``, with ``add`` appended, and with
    ``query`` (when given) as the query string of its request target.

    Works on the bytes rather than re-rendering parsed headers, so everything
    the policy does not touch reaches Squid exactly as it came, folded lines
    and odd spacing included; the target keeps its form (absolute or origin).
    """
    lowered = {name.lower().encode("latin-1") for name in drop}
    lines = raw[: -len(b"\r\n\r\n")].split(b"\r\n")
    kept = [lines[0] if query is None else _with_query(lines[0], query)]
    skipping = False
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):  # a folded continuation of the previous field
            if not skipping:
                kept.append(line)
            continue
        skipping = line.partition(b":")[0].strip().lower() in lowered
        if not skipping:
            kept.append(line)
    kept.extend(f"{name}: {value}".encode("latin-1", "replace") for name, value in add)
    return b"\r\n".join(kept) + b"\r\n\r\n"


def _with_query(request_line: bytes, query: str) -> bytes:
    """The request line with the target's query string replaced by ``query``."""
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise ValueError("not an HTTP request line")
    encoded = query.encode("latin-1")
    # Only what would split the line: a lone CR or LF the client's target
    # carried already goes back as it came (the echo does the same).
    if b" " in encoded or b"\r\n" in encoded:
        raise ValueError("a query string with a space or line break would break the request line")
    method, target, version = parts
    target, hash_sign, fragment = target.partition(b"#")
    base = target.partition(b"?")[0]
    new_target = base + (b"?" + encoded if encoded else b"") + hash_sign + fragment
    return b" ".join((method, new_target, version))
