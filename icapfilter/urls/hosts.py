"""Host names and IP literals as a browser resolves them.

A list entry only works if the request host is compared in the form the
client will actually connect to. Browsers and curl follow the WHATWG URL host
parser, which accepts far more spellings than the dotted quad:
``3405803783``, ``0313.0.0161.07``, ``0xcb.0x0.0x71.0x7`` and ``[::ffff:cb00:7107]``
all reach 203.0.113.7, and ``%61dultsite.com`` reaches ``adultsite.com``.
Every such spelling is reduced here to one canonical form, so an IP or domain
entry cannot be dodged by respelling the host.

Steps, as in https://url.spec.whatwg.org/#host-parsing: percent-decode, UTF-8
decode, UTS #46 non-transitional mapping (IDNA 2008: ``ß`` stays ``ß`` and
becomes ``xn--...``, it is not folded to ``ss``), then a host whose last label
is a number is parsed as IPv4 and fails if it is not one (``1.2.3.4.5``,
``foo.09``). Failures raise :class:`InvalidEntry`; the policy decides what an
unparseable request gets (``on_error``).
"""

from __future__ import annotations

import ipaddress
import re

import idna
from idna.core import valid_contextj

from icapfilter.urls.errors import InvalidEntry

MAX_HOST_LENGTH = 253

#: The common case: lowercase ASCII labels of 1 to 63 characters.
_PLAIN = re.compile(r"^(?:[a-z0-9_\-]{1,63}\.)*[a-z0-9_\-]{1,63}\.?\Z")
#: The WHATWG "ends in a number" checker, matched at the last label.
_NUMBER = re.compile(r"(?:[0-9]+|0x[0-9a-f]*)\Z")
_PADDED_QUAD = re.compile(r"(?=.*(?:^|\.)0[0-9])(?:(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])\.){3}"
                          r"(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])\Z")
#: A label of a list entry: strict LDH (plus ``_``, common in real hosts).
_ENTRY_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?\Z")
#: WHATWG forbidden domain code points (controls, space, ``#%/:<>?@[\]^|``, DEL).
_FORBIDDEN = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
_HEX = frozenset("0123456789abcdefABCDEF")


def _percent_decode(text: str) -> str:
    """Decode ``%XX`` escapes as bytes, then UTF-8, as the WHATWG host parser does."""
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%" and i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
            continue
        out.extend(ch.encode("utf-8", "surrogatepass"))
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEntry("host is not UTF-8 after percent-decoding") from None


def _ipv4_number(part: str) -> int | None:
    """The WHATWG IPv4 number parser: ``0x`` hex, leading ``0`` octal, else decimal."""
    if not part:
        return None
    base = 10
    if part[:2] in ("0x", "0X"):
        part, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, base = part[1:], 8
    if not part:
        return 0
    try:
        # int() would also accept "_" separators, signs and spaces
        if not part.isascii() or not part.isalnum():
            return None
        return int(part, base)
    except ValueError:
        return None


def parse_ipv4(host: str) -> str:
    """The dotted-decimal form of a host that ends in a number (1 to 4 parts).

    Raises :class:`InvalidEntry` where a browser would refuse the URL.
    """
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        raise InvalidEntry(f"invalid IPv4 address {host!r}: more than 4 parts")
    numbers = []
    for part in parts:
        number = _ipv4_number(part)
        if number is None:
            raise InvalidEntry(f"invalid IPv4 address {host!r}: bad number {part!r}")
        numbers.append(number)
    if any(n > 255 for n in numbers[:-1]):
        raise InvalidEntry(f"invalid IPv4 address {host!r}: part over 255")
    if numbers[-1] >= 256 ** (5 - len(numbers)):
        raise InvalidEntry(f"invalid IPv4 address {host!r}: out of range")
    value = numbers[-1]
    for i, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - i))
    return str(ipaddress.IPv4Address(value))


def parse_ipv6(text: str) -> tuple[str, bool]:
    """``(host, is_ip)`` of a bracket-less IPv6 literal; an IPv4-mapped address
    (``::ffff:203.0.113.7``, ``::ffff:cb00:7107``) is the IPv4 host it reaches."""
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError as exc:
        raise InvalidEntry(f"invalid IPv6 address: {exc}") from None
    if address.scope_id is not None:
        raise InvalidEntry("invalid IPv6 address: zone identifiers are not URLs")
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped), True
    return "[" + address.compressed + "]", True


def _to_ascii(host: str) -> str:
    """UTS #46 non-transitional processing (IDNA 2008), as browsers apply it.

    The mapping (case folding, fullwidth forms, ideographic full stops) is the
    ``idna`` package's; labels left non-ASCII are punycoded. The stricter
    IDNA 2008 label rules are not enforced: a browser accepts names they
    refuse (emoji), so refusing them here would only block real sites.
    """
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    except (idna.IDNAError, ValueError) as exc:
        raise InvalidEntry(f"invalid international host name: {exc}") from None
    if mapped.isascii():
        return mapped
    labels = []
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label)
            continue
        _check_joiners(label)
        try:
            labels.append("xn--" + label.encode("punycode").decode("ascii"))
        except UnicodeError as exc:
            raise InvalidEntry(f"invalid international host name: {exc}") from None
    return ".".join(labels)


def _check_joiners(label: str) -> None:
    """UTS #46 CheckJoiners, which the WHATWG host parser sets: a zero-width
    (non-)joiner is kept (IDNA 2003 deleted it, so ``a<ZWJ>b`` was ``ab``)
    but only where a script needs it (after a virama); browsers refuse the
    URL otherwise, so it is no host anyone reaches."""
    for pos, char in enumerate(label):
        if char in "\u200c\u200d" and not valid_contextj(label, pos):
            raise InvalidEntry(f"invalid international host name: joiner U+{ord(char):04X} "
                               f"not allowed at position {pos} of {label!r}")


def canonical_host(text: str, *, strict: bool = False) -> tuple[str, bool]:
    """``(host, is_ip)``: lowercase ASCII (punycode) name or canonical IP.

    ``strict`` (list entries) also requires DNS-style labels (letters, digits,
    ``-`` inside, ``_``); requests only need to be a host a browser would
    send, so a real site with an odd label is still judged by its domains.
    The trailing dot is dropped; brackets mean IPv6.
    """
    if text.startswith("["):
        if not text.endswith("]"):
            raise InvalidEntry("unterminated IPv6 literal")
        return parse_ipv6(text[1:-1])
    host = text.lower() if text.isascii() else text
    plain = _PLAIN.match(host) is not None
    if not plain:
        if "%" in host:
            host = _percent_decode(host)
        if not host.isascii():
            host = _to_ascii(host)
        host = host.lower()
        if _FORBIDDEN.search(host):
            raise InvalidEntry(f"invalid character in host {host!r}")
    if host.endswith(".") and host != ".":
        host = host[:-1]
    dot = host.rfind(".")
    if _NUMBER.match(host, dot + 1):
        if strict and _PADDED_QUAD.match(host):
            # a list's zero-padded dotted quad (192.168.001.010) means decimal;
            # a browser reads the same request host as octal, another address
            return ".".join(str(int(part)) for part in host.split(".")), True
        return parse_ipv4(host), True
    if not plain and (not host or ".." in host or host.startswith(".") or any(
            len(label) > 63 for label in host.split("."))):
        raise InvalidEntry(f"invalid host name {host!r}: empty or over-long label")
    if len(host) > MAX_HOST_LENGTH:
        raise InvalidEntry("host name longer than 253 characters")
    if strict:
        for label in host.split("."):
            if not _ENTRY_LABEL.match(label):
                raise InvalidEntry(f"invalid host label {label!r}")
    return host, False
