"""Bytes to text for response bodies, with the charset chosen as browsers do.

Order (WHATWG "encoding sniffing", simplified): a byte-order mark, then the
`charset=` of the HTTP Content-Type, then for HTML the `<meta>` prescan of the
first KiB. Without any of them the body is read as UTF-8 and every byte that
is not valid UTF-8 is taken as Latin-1, so undeclared legacy pages still yield
their ASCII words instead of failing.
"""

from __future__ import annotations

import codecs

import webencodings

PRESCAN_BYTES = 1024
_FALLBACK_ERRORS = "icapfilter-latin1"

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error(_FALLBACK_ERRORS, _latin1_fallback)


def python_codec(label: str | None) -> str | None:
    """A WHATWG charset label (`x-sjis`, `latin1`...) to a Python codec name."""
    if not label:
        return None
    enc = webencodings.lookup(label.strip().strip("\"'"))
    if enc is None:
        return None
    name: str = enc.codec_info.name
    if name == "x-user-defined":  # no Python codec; treat as undeclared
        return None
    return name


def charset_from_content_type(content_type: str | None) -> str | None:
    """The `charset` parameter of a Content-Type header, unresolved."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def sniff_bom(data: bytes) -> tuple[str, int] | None:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    return None


def prescan_meta(data: bytes) -> str | None:
    """The charset named by `<meta charset>` / `http-equiv` in `data`, if any.

    html5lib's EncodingParser implements the spec's prescan algorithm; it is a
    private API, so any failure means "not declared" rather than an error.
    """
    try:
        from html5lib._inputstream import EncodingParser

        enc = EncodingParser(data[:PRESCAN_BYTES]).getEncoding()
    except Exception:  # noqa: BLE001 - a broken page must not break the scan
        return None
    return python_codec(enc.name) if enc is not None else None


def page_charset(head: bytes, content_type: str | None, *, html: bool) -> tuple[str, str]:
    """(Python codec, where it came from) for a body starting with `head`.

    Order: BOM, Content-Type `charset`, for HTML the `<meta>` prescan of the
    first PRESCAN_BYTES, else UTF-8 ("default").
    """
    bom = sniff_bom(head)
    if bom is not None:
        return bom[0], "bom"
    declared = python_codec(charset_from_content_type(content_type))
    if declared is not None:
        return declared, "header"
    meta = prescan_meta(head) if html else None
    if meta is not None:
        return meta, "meta"
    return "utf-8", "default"


class BodyTextDecoder:
    """Incremental bytes-to-str for one body.

    Multibyte characters split across chunks are handled by the incremental
    decoder; the charset decision waits for the first PRESCAN_BYTES when only
    the `<meta>` prescan could tell.
    """

    def __init__(self, content_type: str | None, *, html: bool) -> None:
        self._header_charset = python_codec(charset_from_content_type(content_type))
        self._header_label = charset_from_content_type(content_type)
        self._html = html
        self._pending = bytearray()
        self._decoder: codecs.IncrementalDecoder | None = None
        self.charset: str | None = None
        self.source: str | None = None  # "bom", "header", "meta", "default"
        self.notes: list[str] = []

    def _need(self) -> int:
        if self._header_charset is not None or not self._html:
            return 3  # only a BOM could still override
        return PRESCAN_BYTES

    def _decide(self) -> None:
        data = bytes(self._pending)
        bom = sniff_bom(data)
        if bom is not None:
            self.charset, self.source = bom[0], "bom"
            del self._pending[: bom[1]]
        elif self._header_charset is not None:
            self.charset, self.source = self._header_charset, "header"
        else:
            if self._header_label:
                self.notes.append(f"unknown charset {self._header_label!r} in Content-Type")
            meta = prescan_meta(data) if self._html else None
            if meta is not None:
                self.charset, self.source = meta, "meta"
            else:
                self.charset, self.source = "utf-8", "default"
        errors = _FALLBACK_ERRORS if self.source == "default" else "replace"
        self._decoder = codecs.getincrementaldecoder(self.charset)(errors=errors)

    def feed(self, data: bytes) -> str:
        if self._decoder is None:
            self._pending += data
            if len(self._pending) < self._need():
                return ""
            self._decide()
            data = bytes(self._pending)
            self._pending.clear()
        assert self._decoder is not None
        return self._decoder.decode(data)

    def finish(self) -> str:
        if self._decoder is None:
            self._decide()
            data = bytes(self._pending)
            self._pending.clear()
            assert self._decoder is not None
            return self._decoder.decode(data, final=True)
        return self._decoder.decode(b"", final=True)
