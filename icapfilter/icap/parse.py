"""Sans-IO ICAP/1.0 parsing (RFC 3507): bytes in, validated values out.

Rules kept here, each with its RFC 3507 section:

* Request line ``METHOD SP icap-URI SP ICAP/1.0`` (4.3.2). Unknown methods
  are 501, other versions 505.
* Header fields as in HTTP/1.1 (4.3.1); a line without a colon is 400.
* ``Encapsulated`` (4.4.1): ordered ``name=offset`` list, offsets counted from
  the start of the encapsulated section, increasing, exactly one body entity
  (``req-body``, ``res-body``, ``opt-body`` or ``null-body``) and it comes last.
  Every encapsulated HTTP head must end exactly at the next offset, and none
  may be longer than ``max_head_bytes`` (431, like an ICAP head that long):
  the offsets are checked before any of those bytes are read, so a client
  cannot make the server buffer what it announces.
* Bodies are always chunked (4.4.1); the preview's last chunk may carry the
  ``ieof`` extension (4.5).

Nothing here touches a socket: the server feeds bytes and gets values or an
:class:`IcapProtocolError` carrying the status to answer with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from urllib.parse import urlsplit

from .errors import IcapProtocolError
from .messages import Headers, HttpRequestHead, HttpResponseHead, IcapRequest

METHODS = ("OPTIONS", "REQMOD", "RESPMOD")
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# A block of ordinary field lines (no folding, no stray CR or LF), checked in
# one pass so the common case skips the line-by-line path below.
_FIELD_BLOCK = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n]*\r\n)*")
_FIELD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^\r\n]*)\r\n")
_VERSION = re.compile(r"^ICAP/(\d)\.(\d)$")
_HTTP_VERSION = re.compile(r"^HTTP/\d\.\d$")
_CHUNK_SIZE = re.compile(rb"^[0-9A-Fa-f]{1,15}$")
# ASCII digits only: str.isdigit() also accepts "\xb2\xb3\xb9" (latin-1 superscripts),
# on which int() raises ValueError instead of a 400.
_DECIMAL = re.compile(r"[0-9]{1,9}")

HEAD_END = b"\r\n\r\n"

_PARTS_ALLOWED = {
    "REQMOD": (("req-hdr",), ("req-body", "null-body")),
    "RESPMOD": (("req-hdr", "res-hdr"), ("res-body", "null-body")),
    "OPTIONS": ((), ("opt-body", "null-body")),
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep a hostile or broken client from holding memory."""

    max_head_bytes: int = 65536
    max_header_fields: int = 100
    max_chunk_line: int = 256


def find_head_end(buffer: bytes | bytearray, start: int = 0) -> int:
    """Index just past the blank line ending a head, or -1 if not there yet."""
    index = buffer.find(HEAD_END, start)
    return -1 if index < 0 else index + len(HEAD_END)


def _decode(raw: bytes) -> str:
    # Header bytes beyond ASCII occur in the wild (UTF-8 file names in URLs);
    # latin-1 keeps every byte, so nothing is lost and nothing raises.
    return raw.decode("latin-1")


def parse_header_fields(lines: list[bytes], limits: Limits, what: str) -> Headers:
    """Parse ``Name: value`` lines; folded continuation lines join the previous value."""
    pairs: list[tuple[str, str]] = []
    for number, line in enumerate(lines, start=2):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not pairs:
                raise IcapProtocolError(f"{what}: continuation line before any header")
            name, value = pairs[-1]
            pairs[-1] = (name, f"{value} {_decode(line.strip())}")
            continue
        raw_name, colon, raw_value = line.partition(b":")
        if not colon:
            raise IcapProtocolError(f"{what} line {number}: header field without a colon")
        if not _TOKEN.match(raw_name):
            raise IcapProtocolError(f"{what} line {number}: invalid header field name")
        pairs.append((_decode(raw_name), _decode(raw_value.strip())))
        if len(pairs) > limits.max_header_fields:
            raise IcapProtocolError(f"{what}: more than {limits.max_header_fields} fields", 431)
    return Headers(tuple(pairs))


def parse_field_block(block: bytes, limits: Limits, what: str) -> Headers:
    """The fields of a head: ``block`` is its lines after the first, each ending
    in CRLF, without the blank line. Same result as :func:`parse_header_fields`
    on those lines (a test holds them together), in one regex pass when every
    line is a plain ``Name: value``."""
    if _FIELD_BLOCK.fullmatch(block):
        pairs = [(_decode(name), _decode(value.strip())) for name, value in _FIELD.findall(block)]
        if len(pairs) > limits.max_header_fields:
            raise IcapProtocolError(f"{what}: more than {limits.max_header_fields} fields", 431)
        return Headers(tuple(pairs))
    return parse_header_fields(block[:-2].split(b"\r\n"), limits, what)


def _split_head(head: bytes, what: str) -> tuple[bytes, bytes]:
    """(first line, field block) of a head that ends with its blank line."""
    if not head.endswith(HEAD_END):
        raise IcapProtocolError(f"{what} does not end with an empty line")
    first_end = head.find(b"\r\n")
    return head[:first_end], head[first_end + 2 : len(head) - 2]


def parse_icap_head(head: bytes, limits: Limits = Limits()) -> IcapRequest:
    """Parse an ICAP request head, ending with its blank line."""
    if len(head) > limits.max_head_bytes:
        raise IcapProtocolError("ICAP head too large", 431)
    first, block = _split_head(head, "ICAP head")
    parts = first.split(b" ")
    if len(parts) != 3 or not all(parts):
        raise IcapProtocolError("malformed ICAP request line")
    raw_method, raw_uri, raw_version = parts
    if not _TOKEN.match(raw_method):
        raise IcapProtocolError("malformed ICAP method")
    method, uri, version = _decode(raw_method), _decode(raw_uri), _decode(raw_version)
    match = _VERSION.match(version)
    if not match:
        raise IcapProtocolError("malformed ICAP version")
    if version != "ICAP/1.0":
        raise IcapProtocolError(f"{version} not supported", 505)
    if method not in METHODS:
        raise IcapProtocolError(f"method {method} not implemented", 501)
    service = service_of(uri)
    headers = parse_field_block(block, limits, "ICAP head")
    preview = headers.get("Preview")
    if preview is not None and not _DECIMAL.fullmatch(preview):
        raise IcapProtocolError("malformed Preview header")
    encapsulated = headers.get("Encapsulated")
    if encapsulated is None and method != "OPTIONS":
        raise IcapProtocolError("missing Encapsulated header")
    sections = parse_encapsulated(encapsulated, method) if encapsulated is not None else ()
    for (name, start), (_, end) in zip(sections, sections[1:], strict=False):
        if end - start > limits.max_head_bytes:
            raise IcapProtocolError(f"encapsulated {name} longer than {limits.max_head_bytes} "
                                    "bytes", 431)
    return IcapRequest(method=method, uri=uri, service=service, version=version,
                       headers=headers, encapsulated=sections)


@lru_cache(maxsize=256)
def service_of(uri: str) -> str:
    """The service name: the first path segment of the ICAP URI (cached: a
    client uses one or two URIs)."""
    try:
        split = urlsplit(uri)
    except ValueError as exc:
        raise IcapProtocolError("malformed ICAP URI") from exc
    if split.scheme not in ("icap", "icaps", "") or (not split.scheme and not uri.startswith("/")):
        raise IcapProtocolError("malformed ICAP URI")
    return split.path.strip("/").split("/", 1)[0]


@lru_cache(maxsize=4096)
def parse_encapsulated(value: str, method: str) -> tuple[tuple[str, int], ...]:
    """Validate ``Encapsulated`` for ``method`` (RFC 3507 4.4.1).

    Cached: Squid sends the same few values over and over (the offsets only
    move with the length of the HTTP heads), and errors are not cached.
    """
    heads_allowed, bodies_allowed = _PARTS_ALLOWED[method]
    result: list[tuple[str, int]] = []
    for item in value.split(","):
        name, eq, offset = item.strip().partition("=")
        name = name.strip().lower()
        offset = offset.strip()
        if not eq or not _DECIMAL.fullmatch(offset):
            raise IcapProtocolError(f"malformed Encapsulated entry {item.strip()!r}")
        result.append((name, int(offset)))
    names = [name for name, _ in result]
    *heads, body = names
    if body not in bodies_allowed:
        raise IcapProtocolError(f"Encapsulated must end with one of {', '.join(bodies_allowed)}")
    if any(name not in heads_allowed for name in heads) or len(set(names)) != len(names):
        raise IcapProtocolError(f"Encapsulated entries not allowed for {method}")
    if heads != [name for name in heads_allowed if name in heads]:
        raise IcapProtocolError("Encapsulated entries out of order")
    if method == "REQMOD" and "req-hdr" not in heads:
        raise IcapProtocolError("REQMOD needs an encapsulated req-hdr")
    if method == "RESPMOD" and "res-hdr" not in heads:
        raise IcapProtocolError("RESPMOD needs an encapsulated res-hdr")
    offsets = [offset for _, offset in result]
    if offsets[0] != 0 and heads:
        raise IcapProtocolError("first Encapsulated offset must be 0")
    if any(later <= earlier for earlier, later in zip(offsets, offsets[1:], strict=False)):
        raise IcapProtocolError("Encapsulated offsets must increase")
    return tuple(result)


def heads_length(request: IcapRequest) -> int:
    """How many bytes of encapsulated HTTP heads follow the ICAP head."""
    return request.encapsulated[-1][1] if request.encapsulated else 0


def attach_heads(request: IcapRequest, data: bytes, limits: Limits = Limits()) -> IcapRequest:
    """Parse the encapsulated HTTP heads (``data`` is exactly :func:`heads_length` bytes)."""
    parts = request.encapsulated
    if len(data) != heads_length(request):
        raise IcapProtocolError("encapsulated heads shorter than announced")
    http_request = http_response = None
    for (name, start), (_, end) in zip(parts, parts[1:], strict=False):
        section = data[start:end]
        if name == "req-hdr":
            http_request = parse_http_request_head(section, limits)
        elif name == "res-hdr":
            http_response = parse_http_response_head(section, limits)
    return replace(request, http_request=http_request, http_response=http_response)


def parse_http_request_head(head: bytes, limits: Limits = Limits()) -> HttpRequestHead:
    first, block = _split_head(head, "encapsulated request head")
    parts = first.split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
        raise IcapProtocolError("malformed encapsulated HTTP request line")
    version = _decode(parts[2])
    if not _HTTP_VERSION.match(version):
        raise IcapProtocolError("malformed encapsulated HTTP version")
    headers = parse_field_block(block, limits, "encapsulated request head")
    return HttpRequestHead(_decode(parts[0]), _decode(parts[1]), version, headers, head)


def parse_http_response_head(head: bytes, limits: Limits = Limits()) -> HttpResponseHead:
    first, block = _split_head(head, "encapsulated response head")
    parts = first.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
        raise IcapProtocolError("malformed encapsulated HTTP status line")
    version = _decode(parts[0])
    if not _HTTP_VERSION.match(version):
        raise IcapProtocolError("malformed encapsulated HTTP version")
    headers = parse_field_block(block, limits, "encapsulated response head")
    reason = _decode(parts[2]) if len(parts) == 3 else ""
    return HttpResponseHead(version, int(parts[1]), reason, headers, head)


@dataclass(frozen=True, slots=True)
class Chunk:
    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfBody:
    ieof: bool


class ChunkDecoder:
    """Incremental decoder of one chunked body (ends at the zero-size chunk).

    ``feed`` takes any split of the stream and returns the events it completes;
    chunk data is handed out as it arrives, so a huge chunk never sits in memory.
    Bytes after the end of the body are kept in :attr:`leftover` for the next
    message on a persistent connection.
    """

    def __init__(self, limits: Limits = Limits()) -> None:
        self._limits = limits
        self._buffer = bytearray()
        self._remaining = 0
        self._state = "size"
        self._ieof = False
        self.done = False

    @property
    def leftover(self) -> bytes:
        return bytes(self._buffer) if self.done else b""

    def feed(self, data: bytes) -> list[Chunk | EndOfBody]:
        if self.done:
            self._buffer += data
            return []
        self._buffer += data
        events: list[Chunk | EndOfBody] = []
        while not self.done:
            if self._state == "data":
                if not self._buffer:
                    break
                piece = bytes(self._buffer[: self._remaining])
                del self._buffer[: len(piece)]
                self._remaining -= len(piece)
                events.append(Chunk(piece))
                if self._remaining == 0:
                    self._state = "crlf"
                continue
            if self._state == "crlf":
                if len(self._buffer) < 2:
                    break
                if self._buffer[:2] != b"\r\n":
                    raise IcapProtocolError("chunk data longer than its announced size")
                del self._buffer[:2]
                self._state = "size"
                continue
            line = self._take_line()
            if line is None:
                break
            if self._state == "size":
                self._on_size_line(line, events)
            elif not line:  # trailer section ends with an empty line
                self.done = True
                events.append(EndOfBody(self._ieof))
        return events

    def _take_line(self) -> bytes | None:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > self._limits.max_chunk_line:
                raise IcapProtocolError("chunk size line too long", 413)
            return None
        if end > self._limits.max_chunk_line:
            raise IcapProtocolError("chunk size line too long", 413)
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _on_size_line(self, line: bytes, events: list[Chunk | EndOfBody]) -> None:
        size_text, _, extensions = line.partition(b";")
        size_text = size_text.strip()
        if not _CHUNK_SIZE.match(size_text):
            raise IcapProtocolError("invalid chunk size")
        size = int(size_text, 16)
        if size == 0:
            self._ieof = any(ext.strip().lower() == b"ieof" for ext in extensions.split(b";"))
            self._state = "trailer"
            return
        self._remaining = size
        self._state = "data"
