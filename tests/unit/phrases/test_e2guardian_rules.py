"""e2guardian 5.3.5's phrase rules (NaughtyFilter::checkme) and default mode's two
documented differences, each with both verdicts.

The reference functions below transcribe checkme's byte loops literally, so
the fast implementation (translate tables, regexes, streaming state) is held
to them for any input and any split into chunks.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from icapfilter.phrases import scan_bytes
from icapfilter.phrases.bytemap import (
    PAGE_TABLE,
    RAW_ONLY_TABLE,
    RAW_PASS_TABLE,
    HoldLast,
    SmartStrip,
    SpaceFolder,
    dead_byte_in,
)
from icapfilter.phrases.scoring import keep_naughtiness
from icapfilter.scan_settings import ScanSettings

EXACT = ScanSettings(e2guardian_exact=True)


def e2g_lower(c: int, *, smart: bool) -> int:
    """checkme's mapping loop, `preservecase = 0`, as written in its source."""
    if ord("A") <= c <= ord("Z"):
        return ord("a") + c - ord("A")
    if 192 <= c <= 221:
        return c + 32
    if smart:
        if c < 46 or c == 58 or c == 59 or c == 63 or (90 < c < 97):
            return 32
    elif c < 46 or (57 < c < 65) or (90 < c < 97):
        return 32
    return c


def e2g_smart(mapped: bytes) -> bytes:
    """checkme's smart loop and the `j - 1` length it hands checkphrase."""
    out = bytearray(b" ")
    inhtml = False
    for c in mapped:
        addit = True
        if c == ord("<"):
            inhtml = True
        if c == ord(">"):
            inhtml = False
            c = 32
        if inhtml:
            addit = False
        if c == 32 and out[-1] == 32:
            addit = False
        if addit:
            out.append(c)
    return bytes(out[:-1])


def test_the_page_tables_are_checkmes_loops():
    for c in range(256):
        assert PAGE_TABLE[c] == e2g_lower(c, smart=True), c
        assert RAW_ONLY_TABLE[c] == e2g_lower(c, smart=False), c
        want_raw = 32 if c in (60, 62) else e2g_lower(c, smart=True)
        assert RAW_PASS_TABLE[c] == want_raw, c


def test_which_punctuation_survives():
    kept = bytes(c for c in range(0x21, 0x7F) if PAGE_TABLE[c] == c and not chr(c).isalnum())
    assert kept == b"./<=>@{|}~"
    assert PAGE_TABLE[0xC9] == 0xE9 and PAGE_TABLE[0xDD] == 0xFD and PAGE_TABLE[0xDE] == 0xDE


def smart_stream(chunks: list[bytes]) -> bytes:
    strip, folder, hold = SmartStrip(), SpaceFolder(), HoldLast()
    out = hold.feed(folder.start())
    for chunk in chunks:
        out += hold.feed(folder.feed(strip.feed(chunk).translate(PAGE_TABLE)))
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


PAGE_BYTES = st.lists(
    st.sampled_from([b"<", b">", b" ", b"  ", b"a", b"B", b"\xc9", b"\xe9", b"-", b".", b"\n",
                     b"<b>", b"</p>", b"'", b'"', b"=", b"\x00", b"&amp;"]),
    max_size=60,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(page=PAGE_BYTES, cuts=st.lists(st.integers(0, 400), max_size=10))
def test_the_smart_pass_equals_checkmes_loop_for_any_chunking(page, cuts):
    reference = e2g_smart(bytes(e2g_lower(c, smart=True) for c in page))
    assert smart_stream(split(page, cuts)) == reference


def test_smart_pass_quirks():
    assert smart_stream([b'<a title="x>y">text']) == b' y tex'  # '>' in quotes ends the tag
    # a "<" in a script hides the text up to the next ">"
    assert smart_stream([b"<script>if (a < b) go(); hidden</script>shown\n"]) == b" if a shown"
    assert smart_stream([b"one  two\t\tthree\n"]) == b" one two three"


def test_dead_bytes_are_those_a_page_never_shows():
    assert dead_byte_in(b"e-mail") == ord("-")
    assert dead_byte_in(b"a.b/c=d@e") is None
    assert dead_byte_in("żona".encode()) == 0xC5  # UTF-8 lead byte, lowercased in pages
    assert dead_byte_in("żona".encode(), utf8_view=True) is None
    assert dead_byte_in("少女".encode()) is None  # CJK lead bytes are 0xE0-0xEF


def test_naughtiness_kept_over_passes_prefers_the_highest_positive():
    assert keep_naughtiness(0, 30) == 30
    assert keep_naughtiness(30, 20) == 30
    assert keep_naughtiness(0, -10) == -10
    assert keep_naughtiness(-10, -30) == -30
    assert keep_naughtiness(-30, 5) == 5
    assert keep_naughtiness(5, -30) == 5


def both(ps, page: bytes, content_type: str = "text/html; charset=utf-8"):
    return (scan_bytes(ps, page, EXACT, content_type=content_type),
            scan_bytes(ps, page, content_type=content_type))


def test_character_references_only_decoded_in_default_mode(make_set):
    ps = make_set(banned="<porn>\n", weighted="<fish chips><60>\n")
    for page in (b"<p>p&#111;rn</p>\n", b"<p>p&#x6F;rn</p>\n", b"<p>p&oacute;rn</p>\n"):
        exact, default = both(ps, page)
        assert not exact.blocked, page
        assert default.blocked == (page != b"<p>p&oacute;rn</p>\n"), page
    exact, default = both(ps, b"<p>fish&nbsp;chips</p>\n")
    assert (exact.blocked, default.blocked) == (False, True)
    assert "decoded view" in default.notes[0]


def test_utf8_pages_are_case_folded_only_in_default_mode(make_set):
    ps = make_set(weighted="<żona><60>\n<straße><60>\n")
    exact, default = both(ps, "<p>ŻONA</p>\n".encode())
    assert (exact.blocked, default.blocked) == (False, True)
    exact, default = both(ps, b"<p>STRASSE</p>\n")
    assert (exact.blocked, default.blocked) == (False, True)
    # the same list entry never matches a Latin-1 page, in either mode
    exact, default = both(ps, "<p>żona</p>\n".encode("iso-8859-2"),
                          content_type="text/html; charset=iso-8859-2")
    assert not exact.blocked and not default.blocked


def test_the_decoded_view_never_saves_a_page_e2guardian_blocks(make_set):
    ps = make_set(banned="<forbidden>\n", exception="<medical>\n")
    exact, default = both(ps, b"<p>forbidden m&#101;dical</p>\n")
    assert exact.blocked and default.blocked


def test_single_byte_pages_match_lists_in_their_own_bytes_declared_or_not(make_set):
    ps = make_set(weighted="<водка><60>\n".encode("cp1251"))
    page = "<p>ВОДКА и водка</p>\n".encode("cp1251")
    for ct in ("text/html", "text/html; charset=windows-1251"):
        exact, default = both(ps, page, content_type=ct)
        assert exact.blocked and default.blocked, ct


def test_script_style_comments_and_attributes_are_scanned(make_set):
    ps = make_set(banned="<naughty>\n")
    for page in (b"<script>var t = 'naughty';</script>", b"<style>/* naughty */</style>",
                 b"<!-- naughty -->", b"<img alt='naughty'>", b"<a href='/naughty'>x</a>",
                 b"<![CDATA[ naughty ]]>", b"<iframe srcdoc='naughty'></iframe>"):
        exact, default = both(ps, page)
        assert exact.blocked and default.blocked, page


def test_punctuation_in_a_page_is_a_space_but_kept_in_an_entry(make_set):
    ps = make_set(weighted="<e-mail><60>\n<e mail><60>\n<a.b><60>\n")
    exact, _ = both(ps, b"write an e-mail\n")
    assert [h.phrase for h in exact.phrases] == ["e mail"]
    exact, _ = both(ps, b"a.b and a b\n")
    assert [h.phrase for h in exact.phrases] == ["a.b"]


def test_a_percentage_resolving_to_zero_is_banned(make_set):
    ps = make_set(weighted="<tiny><1%>\n")
    r = scan_bytes(ps, b"tiny\n", EXACT, limit=50)
    assert r.blocked and r.reason == "banned phrase"
    assert not scan_bytes(ps, b"tiny\n", EXACT, limit=200).blocked


def test_normal_mode_carries_the_lowest_count_between_complete_combinations(make_set):
    # e2guardian resets its running minimum only after an incomplete combination
    ps = make_set(weighted="<a>,<b><10>\n<c>,<d><10>\n")
    page = b"a b c c c d d d\n"
    r = scan_bytes(ps, page, ScanSettings(weighted_mode="normal", e2guardian_exact=True),
                   limit=100)
    assert r.score == 10 * 1 + 10 * 1  # not 10 + 30


REF_TEXT = st.lists(
    st.sampled_from(["&", "#", "x", "6F", "1", "1;", "amp", ";", "nbsp;", "oacute", " ", "é",
                     "Ж", "Z", "\n"]),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=REF_TEXT, cuts=st.lists(st.integers(0, 200), max_size=8))
def test_the_decoded_views_resolve_references_whatever_the_chunking(text, cuts):
    from icapfilter.phrases.views import ByteReferences, Decoded

    for make, data in ((Decoded, text.encode()),
                       (lambda: ByteReferences("cp1251"), text.encode("cp1251", "replace"))):
        whole = make().feed(data, final=True)
        view = make()
        pieces = [view.feed(c) for c in split(data, cuts)]
        # ASCII case is the byte table's job, so only compare it lowercased
        assert (b"".join(pieces) + view.feed(b"", final=True)).lower() == whole.lower()


def test_references_resolve_into_the_pages_charset():
    from icapfilter.phrases.views import ByteReferences, Decoded

    assert Decoded().feed("p&#111;rn &Eacute;COLE&nbsp;Ж".encode(), final=True) == (
        "porn école ж".encode())
    # windows-1251 has 'ж' (0xE6) but no 'é': that one stays a numeric reference
    assert ByteReferences("cp1251").feed(b"&#1078; &eacute; &amp;", final=True) == (
        b"\xe6 &#233; &")
