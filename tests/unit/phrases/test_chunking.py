"""Any split of a body into chunks must give the same verdict, score and hits."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icapfilter.phrases import BodyScan, load_phrase_set
from icapfilter.scan_settings import ScanSettings
from tests.unit.phrases.listhelpers import write

PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Caf&eacute; Straße</title>"
    "<style>.x{color:red}</style><script>var s='<b>naughty</b>';</script></head>"
    '<body><p class="a>b">Naughty words &amp; more naughty WORDS here.</p><!-- naughty -->'
    "<p>The forbidden fruit, résumé, STRASSE, водка, 少女.</p>"
    "<a href='x'>good context</a> end</body></html>"
)


@pytest.fixture(scope="module")
def phrase_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("lists")
    w = write(
        d / "w",
        "<naughty><10>\n<naughty words><15>\n< words ><5>\n<café><3>\n<strasse><7>\n"
        "<водка><4>\n<少女><6>\n<résumé><2>\n<forbidden>,<fruit><20>\n<b naughty b><50>\n",
    )
    ru = write(d / "russian" / "w", "<водка><8>\n".encode("cp1251"))
    e = write(d / "e", "<good context>,<never here>\n")
    ps, errors = load_phrase_set([], [w, ru], [e])
    assert not [x for x in errors if x.level == "error"]
    return ps


def run(ps, chunks, *, content_type: str | None = None, content_encoding: str | None = None,
        **settings):
    s = BodyScan(ps, ScanSettings(**settings), limit=40, content_type=content_type,
                 content_encoding=content_encoding)
    for c in chunks:
        s.feed(c)
    r = s.finish()
    return r.blocked, r.score, r.reason, sorted((h.phrase, h.count) for h in r.phrases)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    out.append(data[prev:])
    return out


MODES = st.sampled_from(["smart", "raw", "both"])
WMODES = st.sampled_from(["singular", "normal"])
CUTS = st.lists(st.integers(min_value=0, max_value=10_000), max_size=40)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=CUTS, mode=MODES, wmode=WMODES, exact=st.booleans())
def test_plain_body_any_split(phrase_set, cuts, mode, wmode, exact):
    data = PAGE.encode()
    kw = dict(filter_mode=mode, weighted_mode=wmode, content_type="text/html",
              e2guardian_exact=exact)
    whole = run(phrase_set, [data], **kw)
    assert whole[1] > 0
    assert run(phrase_set, split(data, cuts), **kw) == whole


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=CUTS, mode=MODES, enc=st.sampled_from(["gzip", "deflate", "rawdeflate", "br"]))
def test_compressed_body_any_split(phrase_set, cuts, mode, enc):
    data = (PAGE * 3).encode()
    if enc == "gzip":
        body = gzip.compress(data)
    elif enc == "deflate":
        body = zlib.compress(data)
    elif enc == "rawdeflate":
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        body, enc = c.compress(data) + c.flush(), "deflate"
    else:
        brotli = pytest.importorskip("brotli")
        body = brotli.compress(data)
    kw = dict(filter_mode=mode, content_type="text/html", content_encoding=enc)
    plain = run(phrase_set, [data], filter_mode=mode, content_type="text/html")
    assert run(phrase_set, [body], **kw) == plain
    assert run(phrase_set, split(body, cuts), **kw) == plain


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cuts=CUTS,
    charset=st.sampled_from(["windows-1251", "utf-16", "utf-8-sig"]),
    declared=st.booleans(),
    exact=st.booleans(),
)
def test_multibyte_charsets_any_split(phrase_set, cuts, charset, declared, exact):
    text = "<html><body>водка STRASSE naughty words ВОДКА</body></html>"
    data = text.encode(charset)
    ct = f"text/html; charset={charset}" if declared and charset != "utf-8-sig" else "text/html"
    kw = dict(content_type=ct, e2guardian_exact=exact)
    whole = run(phrase_set, [data], **kw)
    hits = whole[3]
    if charset == "windows-1251":
        # the windows-1251 entry matches its own bytes, declared or not, and
        # e2guardian lowercases 'ВОДКА' (0xC2...) byte by byte
        assert ("водка", 2) in hits
    elif charset == "utf-8-sig":
        # UTF-8 Cyrillic only matches in default mode's case-folded view
        assert (("водка", 2) in hits) is not exact
    else:
        assert not any(p == "водка" for p, _ in hits)  # UTF-16: nothing matches
    assert run(phrase_set, split(data, cuts), **kw) == whole


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(
        st.sampled_from(
            [
                "naughty",
                "words",
                "<b>",
                "</b>",
                " ",
                "&amp;",
                "водка",
                "<!--",
                "-->",
                "<script>",
                "</script>",
                "x",
                ".",
                "\n",
                "<p class='q>'>",
                "&eacute",
            ]
        ),
        max_size=60,
    ),
    cuts=CUTS,
    exact=st.booleans(),
)
def test_generated_pages_any_split(phrase_set, words, cuts, exact):
    data = "".join(words).encode()
    kw = dict(filter_mode="both", weighted_mode="normal", content_type="text/html; charset=utf-8",
              e2guardian_exact=exact)
    assert run(phrase_set, split(data, cuts), **kw) == run(phrase_set, [data], **kw)
