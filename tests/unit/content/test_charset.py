from __future__ import annotations

import pytest

from icapfilter.content.charset import (
    BodyTextDecoder,
    charset_from_content_type,
    prescan_meta,
    python_codec,
)


def decode(
    data: bytes, ct: str | None, html: bool = True, step: int = 1
) -> tuple[str, BodyTextDecoder]:
    d = BodyTextDecoder(ct, html=html)
    out = "".join(d.feed(data[i : i + step]) for i in range(0, len(data), step)) + d.finish()
    return out, d


def test_header_charset_windows_1251_byte_by_byte():
    text = "<p>Привет, водка!</p>"
    out, d = decode(text.encode("cp1251"), "text/html; charset=windows-1251")
    assert out == text and (d.charset, d.source) == ("cp1251", "header")


def test_shift_jis_via_meta_prescan():
    text = '<html><head><meta charset="Shift_JIS"></head><body>少女のセックス</body></html>'
    out, d = decode(text.encode("shift_jis"), "text/html", step=3)
    assert out == text and d.source == "meta"


def test_http_equiv_meta():
    text = '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r"><p>водка</p>'
    out, d = decode(text.encode("koi8_r"), None)
    assert out == text and d.charset == "koi8-r"


def test_bom_beats_header():
    text = "<p>naïve</p>"
    out, d = decode(b"\xef\xbb\xbf" + text.encode(), "text/html; charset=iso-8859-1", step=2)
    assert out == text and d.source == "bom"
    out, d = decode(text.encode("utf-16"), None)
    assert out == text and d.charset.startswith("utf-16")


def test_undeclared_falls_back_per_byte():
    out, d = decode("café".encode() + " garçon".encode("latin-1"), "text/plain", html=False)
    assert out == "café garçon" and d.source == "default"


def test_bad_or_unknown_charset_does_not_raise():
    out, d = decode(b"abc \xff\xfe", "text/html; charset=x-unknown-thing")
    assert out.startswith("abc") and d.notes
    out, d = decode(b"\x82\xa0\xff", "text/html; charset=shift_jis")
    assert isinstance(out, str)


@pytest.mark.parametrize(
    "ct,expected",
    [
        ("text/html; charset=UTF-8", "UTF-8"),
        ('text/html;charset="windows-1251"', "windows-1251"),
        ("text/html", None),
        (None, None),
    ],
)
def test_charset_param(ct, expected):
    assert charset_from_content_type(ct) == expected


def test_labels_and_prescan():
    assert python_codec("latin1") == "cp1252"
    assert python_codec("x-sjis") == "cp932"
    assert python_codec("nonsense") is None
    assert prescan_meta(b"<p>no meta</p>") is None
