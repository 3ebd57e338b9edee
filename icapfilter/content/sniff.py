"""What a browser takes a body without a usable Content-Type for.

WHATWG MIME Sniffing, "rules for identifying an unknown MIME type" with the
sniff-scriptable flag set (a navigation), applied to the resource header:
the first `RESOURCE_HEADER` decoded bytes. Browsers render a body that
sniffs as HTML, XML or text, so such a body must be scanned; one that
sniffs as an image, media, an archive or binary data is not rendered as a
page. Sans-IO: bytes in, a MIME type out.

Only responses whose type is missing or unusable are sniffed: a declared
`application/octet-stream` is downloaded, not rendered, and a declared
`text/plain` is only ever sniffed as text or binary (never HTML), and is
scanned as text anyway.
"""

from __future__ import annotations

#: Most bytes of a body the algorithm looks at.
RESOURCE_HEADER = 1445

_WHITESPACE = b"\t\n\x0c\r "
_TAG_END = b" >"
# Case-insensitive HTML signatures; each must be followed by a space or '>'.
_HTML_TAGS = tuple(t.encode() for t in (
    "<!DOCTYPE HTML", "<HTML", "<HEAD", "<SCRIPT", "<IFRAME", "<H1", "<DIV", "<FONT",
    "<TABLE", "<A", "<STYLE", "<TITLE", "<B", "<BODY", "<BR", "<P", "<!--"))
_BINARY_BYTES = frozenset(list(range(0x00, 0x09)) + [0x0B] + list(range(0x0E, 0x1B))
                          + list(range(0x1C, 0x20)))
_BOMS = (b"\xfe\xff", b"\xff\xfe", b"\xef\xbb\xbf")
# (pattern, mask or None for an exact prefix, MIME type): image, then audio
# and video, then archive signatures, in the order of the specification.
_SIGNATURES: tuple[tuple[bytes, bytes | None, str], ...] = (
    (b"\x00\x00\x01\x00", None, "image/x-icon"),
    (b"\x00\x00\x02\x00", None, "image/x-icon"),
    (b"BM", None, "image/bmp"),
    (b"GIF87a", None, "image/gif"),
    (b"GIF89a", None, "image/gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP", b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff",
     "image/webp"),
    (b"\x89PNG\r\n\x1a\n", None, "image/png"),
    (b"\xff\xd8\xff", None, "image/jpeg"),
    (b"FORM\x00\x00\x00\x00AIFF", b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff",
     "audio/aiff"),
    (b"ID3", None, "audio/mpeg"),
    (b"OggS\x00", None, "application/ogg"),
    (b"MThd\x00\x00\x00\x06", None, "audio/midi"),
    (b"RIFF\x00\x00\x00\x00AVI ", b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff",
     "video/avi"),
    (b"RIFF\x00\x00\x00\x00WAVE", b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff",
     "audio/wave"),
    (b"\x1a\x45\xdf\xa3", None, "video/webm"),
    (b"\x1f\x8b\x08", None, "application/x-gzip"),
    (b"PK\x03\x04", None, "application/zip"),
    (b"Rar!\x1a\x07\x00", None, "application/x-rar-compressed"),
)
#: Content-Type values that mean "unknown" (WHATWG: sniff them).
_UNKNOWN_TYPES = frozenset({"unknown/unknown", "application/unknown", "*/*"})


def needs_sniffing(content_type: str | None) -> bool:
    """Whether a browser would sniff this response's type (missing or unusable)."""
    if content_type is None:
        return True
    essence = content_type.split(";", 1)[0].strip().lower()
    if "/" not in essence:
        return True  # absent, empty or unparseable: the type is undefined
    kind, _, subtype = essence.partition("/")
    if not kind or not subtype:
        return True
    return essence in _UNKNOWN_TYPES


def _matches(header: bytes, pattern: bytes, mask: bytes | None) -> bool:
    if mask is None:
        return header.startswith(pattern)
    if len(header) < len(pattern):
        return False
    return all(h & m == p for h, m, p in zip(header, mask, pattern, strict=False))


def _is_mp4(header: bytes) -> bool:
    if len(header) < 12:
        return False
    box = int.from_bytes(header[:4], "big")
    if len(header) < box or box % 4 or header[4:8] != b"ftyp":
        return False
    if header[8:11] == b"mp4":
        return True
    return any(header[i : i + 3] == b"mp4" for i in range(16, box, 4))


def sniff(data: bytes) -> str:
    """The MIME type a browser computes for a body of unknown type."""
    header = data[:RESOURCE_HEADER]
    rest = header.lstrip(_WHITESPACE)
    upper = rest[:16].upper()
    for tag in _HTML_TAGS:
        if upper.startswith(tag) and len(rest) > len(tag) and rest[len(tag)] in _TAG_END:
            return "text/html"
    if rest.startswith(b"<?xml"):
        return "text/xml"
    if header.startswith(b"%PDF-"):
        return "application/pdf"
    if header.startswith(b"%!PS-Adobe-"):
        return "application/postscript"
    if header.startswith(_BOMS):
        return "text/plain"
    for pattern, mask, mime in _SIGNATURES:
        if _matches(header, pattern, mask):
            return mime
    if _is_mp4(header):
        return "video/mp4"
    if any(b in _BINARY_BYTES for b in header):
        return "application/octet-stream"
    return "text/plain"


def is_rendered_as_text(mime: str) -> bool:
    """Whether a browser shows a body of this sniffed type as a document."""
    return mime in ("text/html", "text/xml", "text/plain")
