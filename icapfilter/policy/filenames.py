"""The file names a message carries, as a browser would save the file.

A request names a file in the last segment of its URL path; a response in
its ``Content-Disposition`` (RFC 6266: ``filename`` and ``filename*``).
Both are hostile inputs: whoever wants an executable through encodes,
pads or doubles the name until one parser reads ``setup.txt`` and the
browser saves ``setup.exe``. So every reading a browser or server might
take is returned (raw and percent-decoded, with and without path
parameters, each ``filename`` parameter) and the policy blocks when any of
them has a banned extension. All of it is linear in the input.
"""

from __future__ import annotations

import email.header
from urllib.parse import unquote

#: Characters Windows drops from the end of a file name (``setup.exe.`` and
#: ``setup.exe `` are saved as ``setup.exe``).
_TRAILING = " .\t\r\n\x0b\x0c"
#: Longest ``filename`` value read for RFC 2047 encoded words (a real one is
#: a file name; the email parser is not made for 64 KiB of them).
_MAX_ENCODED_WORDS = 2048
#: RFC 2231 continuations kept per parameter (``filename*0``, ``filename*1``...).
_MAX_PARTS = 64


def normalize(name: str) -> str:
    """The name a file would be saved under, lower-cased: the last part of
    a path (``/`` or ``\\``), cut at a NUL, without an NTFS stream suffix
    and without trailing dots and spaces."""
    name = name.split("\x00", 1)[0]
    name = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name.endswith("::$data"):
        name = name[: -len("::$data")]
    return name.rstrip(_TRAILING)


def url_file_names(url: str) -> set[str]:
    """The readings of the file name in a URL's last path segment (no query:
    ``/download.php?file=x.exe`` names ``download.php``); empty for none."""
    rest = url.split("://", 1)[1] if "://" in url else url
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    slash = rest.find("/")
    if slash < 0:
        return set()
    segment = rest[slash:].rsplit("/", 1)[1]
    readings = {segment, segment.split(";", 1)[0]}
    decoded = {unquote(r, errors="replace") for r in readings}
    # a path parameter may be percent-encoded too (`x%3B.exe`)
    decoded |= {d.split(";", 1)[0] for d in decoded}
    return {name for name in map(normalize, readings | decoded) if name}


def disposition_names(value: str) -> set[str]:
    """The readings of the file names in one ``Content-Disposition`` value.

    Lenient like browsers: a missing disposition type, an unterminated
    quote, RFC 2231 continuations, percent-encoding in ``filename`` and
    RFC 2047 encoded words are all read; a parameter given twice gives
    both values.
    """
    plain: list[str] = []
    extended: list[str] = []
    parts: dict[int, str] = {}
    for name, raw, quoted in _parameters(value):
        if name == "filename":
            plain.append(raw)
        elif name == "filename*":
            extended.append(_ext_value(raw))
        elif name.startswith("filename*") and len(parts) < _MAX_PARTS:
            index, extended_part, rest = name[len("filename*"):].partition("*")
            # isdigit() alone takes '¹' and other digits int() refuses
            if index.isascii() and index.isdigit() and len(index) <= 3 and not rest:
                if not extended_part or quoted:
                    piece = raw
                elif int(index) == 0:
                    piece = _ext_value(raw)
                else:
                    piece = unquote(raw, errors="replace")
                parts.setdefault(int(index), piece)
    if parts:
        extended.append("".join(parts[i] for i in sorted(parts)))
    names: set[str] = set(extended)
    for raw in plain:
        names.update((raw, unquote(raw, errors="replace"), _encoded_words(raw)))
    return {n for n in map(normalize, names) if n}


def _parameters(value: str) -> list[tuple[str, str, bool]]:
    """(lower-case name, value, was quoted) of each ``name=value`` in a
    header value; text without ``=`` (the disposition type) is skipped."""
    result: list[tuple[str, str, bool]] = []
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and value[pos] in " \t;":
            pos += 1
        start = pos
        while pos < end and value[pos] not in "=;":
            pos += 1
        if pos >= end or value[pos] == ";":
            continue  # a bare token such as `attachment`
        name = value[start:pos].strip().lower()
        pos += 1
        while pos < end and value[pos] in " \t":
            pos += 1
        if pos < end and value[pos] == '"':
            chars: list[str] = []
            pos += 1
            while pos < end and value[pos] != '"':
                if value[pos] == "\\" and pos + 1 < end:
                    pos += 1
                chars.append(value[pos])
                pos += 1
            pos += 1  # the closing quote (or past the end when unterminated)
            result.append((name, "".join(chars), True))
        else:
            start = pos
            while pos < end and value[pos] != ";":
                pos += 1
            result.append((name, value[start:pos].strip(), False))
    return result


def _ext_value(raw: str) -> str:
    """An RFC 8187 ``charset'language'pct-encoded`` value, decoded; a value
    without that shape is only percent-decoded."""
    charset, sep, rest = raw.partition("'")
    _, sep2, encoded = rest.partition("'")
    if not (sep and sep2):
        return unquote(raw, errors="replace")
    try:
        return unquote(encoded, encoding=charset.strip() or "utf-8", errors="replace")
    except (LookupError, ValueError):  # an unknown charset, or no charset name at all
        return unquote(encoded, errors="replace")


def _encoded_words(raw: str) -> str:
    """An RFC 2047 ``=?charset?B?...?=`` name (Chrome and Firefox decode
    them in ``filename``), or ``raw`` when it is not one."""
    if "=?" not in raw or len(raw) > _MAX_ENCODED_WORDS:
        return raw
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except Exception:  # noqa: BLE001 - the email package is not made for hostile input
        return raw  # (CharsetError, HeaderParseError, LookupError, ... seen by the fuzzer)
