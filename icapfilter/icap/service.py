"""What this ICAP service is and advertises: its settings, ISTag and OPTIONS
answer, and who the client says it is (RFC 3507 4.7, 4.10).

Pure values and functions: the exchange and the server both read them here,
so the ISTag and the OPTIONS headers are computed in one place.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import lru_cache

from . import render
from .messages import IcapRequest
from .parse import Limits

# The ICAP service names (first path segment of the ICAP URI) and the method each serves.
SERVICES = {"reqmod": "REQMOD", "respmod": "RESPMOD", "request": "REQMOD", "response": "RESPMOD"}


@dataclass(frozen=True, slots=True)
class ProtocolSettings:
    """What the exchange needs to know; built from the configuration."""

    limits: Limits = Limits()
    max_connections: int = 500
    options_ttl: int = 300
    preview: int = 4096
    transfer_preview: str = "*"
    # Empty by default: Squid matches Transfer-Ignore against the URL, which the
    # client controls (page.html?x=.png would skip RESPMOD). Images and other
    # unscanned types are answered 204 at preview by their Content-Type.
    transfer_ignore: str = ""
    transfer_complete: str = "html, htm, shtml, xhtml"
    hold_bytes: int = 56 * 1024
    drain_bytes: int = 4 * 1024 * 1024
    # Seconds between a REQMOD block page's body and its last chunk (0 = one
    # write). Squid 5.7 closes the client connection after a REQMOD reply
    # whose body and end it reads at once (Squid bug 5187, docs/squid.md).
    reqmod_block_last_chunk_delay: float = 0.0


@lru_cache(maxsize=64)
def istag_for(generation: str) -> str:
    """A quoted ISTag of at most 32 characters that changes with the generation
    of the lists and rules, so Squid drops what it cached of older answers."""
    clean = "".join(ch for ch in generation if ch.isalnum() or ch in "-._")[:28]
    return f'"if-{clean or "0"}"'


@lru_cache(maxsize=32)
def _options_headers(kind: str, settings: ProtocolSettings, istag: str,
                     software: str) -> tuple[tuple[str, str], ...]:
    headers = [
        ("Methods", kind),
        ("Service", f"{software} {kind.lower()} filter"),
        ("Service-ID", "icapfilter"),
        ("ISTag", istag),
        ("Max-Connections", str(settings.max_connections)),
        ("Options-TTL", str(settings.options_ttl)),
        ("Allow", "204"),
        ("Preview", str(settings.preview)),
    ]
    if kind == "RESPMOD":
        headers.append(("Transfer-Preview", settings.transfer_preview))
        if settings.transfer_ignore:
            headers.append(("Transfer-Ignore", settings.transfer_ignore))
        if settings.transfer_complete:
            headers.append(("Transfer-Complete", settings.transfer_complete))
    return tuple(headers)


def options_response(kind: str, settings: ProtocolSettings, istag: str, software: str) -> bytes:
    """The OPTIONS answer for ``kind`` (REQMOD or RESPMOD). Its headers are built
    once per ISTag, that is per list generation; only the Date is fresh."""
    return render.icap_response(200, _options_headers(kind, settings, istag, software))


def client_identity(request: IcapRequest) -> tuple[str | None, str | None]:
    """(IP, user name) from Squid's ``X-Client-IP`` and ``X-Client-Username``
    (or c-icap's ``X-Authenticated-User``), each None when absent."""
    headers = request.headers
    user = headers.get("X-Client-Username") or headers.get("X-Authenticated-User")
    if user:
        user = _maybe_base64(user.strip())
    return (headers.get("X-Client-IP") or "").strip() or None, user


def _maybe_base64(value: str) -> str:
    # Squid base64-encodes the name with icap_client_username_encode on, and c-icap's
    # X-Authenticated-User convention is "Local://name" base64-encoded.
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value
    if decoded.isprintable() and len(value) % 4 == 0 and len(value) >= 8:
        return decoded.split("://", 1)[-1]
    return value
