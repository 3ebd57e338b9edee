"""Default mode's windowed decoded view finds exactly the keys of a full decoded pass."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from icapfilter.phrases.bytemap import PAGE_TABLE, RAW_ONLY_TABLE
from icapfilter.phrases.decoded_pass import FullDecodedView, WindowedView
from icapfilter.phrases.matcher import build_matcher
from icapfilter.phrases.views import ByteReferences, Decoded, View, extra_table

KEYS = [
    b" rock roll ", b"caf\xc3\xa9", b" amp ", b"x y", b"\xc3\xa9t\xc3\xa9 ", b" a b c ",
    b"strasse", b" nbsp", b"ab", b"\xd0\xbf\xd1\x80\xd0\xb8", b"caf\xe9",
    b" a long phrase of many words that reaches well beyond two dozen bytes ",
    b"words that reaches", b"39", b" quot ",
]
ATOMS = [
    "rock", "roll", "&amp;", "&nbsp;", " ", "  ", "      ", ",,,,", "café", "CAFÉ", "&eacute;", "t",
    "été", "ÉTÉ", "Straße", "STRASSE", "x", "y", ",", ". ", "&#120;", "&#x79", "&", "&#", "a",
    "b", "c", "ПРИ", "при", "\u00a0", "&ampx", "&quot;", "&#39;", "a long phrase of many",
    " words that", " reaches well beyond two dozen bytes ", "&#97; long", "\u2019", "\x00",
    "a long phr&#97;se of many", " words th&#x61;t", " reaches well beyond two dozen b&#121;tes ",
]
MATCHER = build_matcher(KEYS)


def _views(utf8: bool, smart: bool, codec: str) -> tuple[View, WindowedView, FullDecodedView]:
    table = extra_table(not smart, utf8)
    twin = View("smart" if smart else "raw", MATCHER, PAGE_TABLE if smart else RAW_ONLY_TABLE,
                smart=smart)
    windowed = WindowedView(twin, MATCHER, max(map(len, KEYS)), table,
                            Decoded if utf8 else (lambda: ByteReferences(codec)),
                            smart=smart, utf8=utf8)
    full = FullDecodedView(twin, MATCHER, table, Decoded() if utf8 else ByteReferences(codec),
                           smart=smart, utf8=utf8, in_sync=True)
    return twin, windowed, full


def _scan(page: bytes, cuts: list[int], utf8: bool, smart: bool,
          codec: str = "windows-1252") -> tuple[Counter[int], WindowedView, Counter[int]]:
    twin, windowed, full = _views(utf8, smart, codec)
    edges = [0, *sorted(c % (len(page) + 1) for c in cuts), len(page)]
    for a, b in zip(edges, edges[1:], strict=False):
        piece = page[a:b]
        found = list(twin.feed(piece)) if piece else []
        windowed.feed(piece)
        full.feed(piece, found)
    windowed.finish()
    full.finish()
    exact = windowed.keys(lambda new, twin: True)
    full_keys = full.keys(lambda new, twin: True)
    assert exact is not None and full_keys is not None
    return +exact, windowed, +full_keys


@settings(max_examples=400, deadline=None)
@given(
    atoms=st.lists(st.sampled_from(ATOMS), min_size=1, max_size=80),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=4),
    utf8=st.booleans(),
    smart=st.booleans(),
)
def test_windowed_view_has_the_keys_of_a_full_decoded_pass(atoms, cuts, utf8, smart):
    page = "".join(atoms).encode("utf-8" if utf8 else "windows-1252", "replace")
    exact, _, full = _scan(page, cuts, utf8, smart)
    assert set(exact) == set(full)


@settings(max_examples=150, deadline=None)
@given(
    atoms=st.lists(st.sampled_from(ATOMS), min_size=1, max_size=80),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=4),
    utf8=st.booleans(),
)
def test_without_an_exact_count_the_view_holds_at_least_the_full_passs_keys(atoms, cuts, utf8):
    page = "".join(atoms).encode("utf-8" if utf8 else "windows-1252", "replace")
    _, windowed, full = _scan(page, cuts, utf8, smart=True)
    keys = windowed.keys(lambda new, twin: False)
    assert set(full) <= set(+(windowed.twin.counts if keys is None else keys))


def test_a_key_only_undecoded_text_holds_is_not_counted():
    # e2guardian reads `&amp;` as " amp "; decoded it is a space
    exact, _, full = _scan(b"rock &amp; roll " * 3, [], utf8=True, smart=True)
    amp = KEYS.index(b" amp ")
    assert amp not in full and amp not in exact
    assert KEYS.index(b" rock roll ") in exact


def test_a_reference_in_a_long_page_is_found_far_from_the_chunk_edges():
    filler = b"plain words here " * 2000
    page = filler + b"caf&eacute; " + filler
    exact, windowed, full = _scan(page, [16384, 20000], utf8=True, smart=True)
    assert KEYS.index(b"caf\xc3\xa9") in exact
    assert set(exact) == set(full)
    assert windowed._full is None  # the windows were few: no full pass


def test_a_page_mostly_in_non_ascii_text_turns_into_a_full_pass():
    page = ("при " * 5000).encode()
    exact, windowed, full = _scan(page, [8000], utf8=True, smart=True)
    assert windowed._full is not None
    assert set(exact) == set(full) and KEYS.index(b"\xd0\xbf\xd1\x80\xd0\xb8") in exact


def test_space_runs_do_not_shorten_a_windows_reach():
    page = b"a long phrase of many" + b" , " * 100 + b"words that reaches well beyond two " \
        b"dozen b&#121;tes x"
    for utf8 in (True, False):
        for cuts in ([], [40], [300, 340]):
            exact, _, full = _scan(page, cuts, utf8=utf8, smart=True)
            assert set(exact) == set(full)
            assert 11 in exact  # the long key, found by decoding its last reference


def test_a_long_key_around_a_reference_is_found_at_its_full_length():
    page = b"xx a long phr&#97;se of many words that reaches well beyond two dozen bytes yy"
    exact, _, full = _scan(page, [], utf8=True, smart=True)
    assert 11 in full and 11 in exact


def test_what_is_carried_between_chunks_stays_small_on_a_page_of_blank_bytes():
    for blank in (b" ", b"\x00", b"\t,"):
        for smart in (True, False):
            twin, windowed, _ = _views(utf8=True, smart=smart, codec="utf-8")
            chunk = blank * 8192
            for piece in (b"caf&eacute;", *[chunk] * 200):
                twin.feed(piece)
                windowed.feed(piece)
                assert len(windowed._pending) < 4096, (blank, smart)


def test_a_key_holding_nul_is_read_window_by_window():
    # windows of reach 8 end right after "abc" and start right at "def": joined
    # by a NUL they would read "abc\0def", which no full pass reads
    keys = [b"abc\x00def", b"zz"]
    matcher = build_matcher(keys)
    page = b"&amp;123456789abc" + b"  " * 100 + b"def123456789&amp; zz 123456789012345678"
    found = {}
    for joinable in (True, False):
        twin = View("smart", matcher, PAGE_TABLE, smart=True)
        windowed = WindowedView(twin, matcher, 8, extra_table(False, True), Decoded,
                                smart=True, utf8=True, joinable=joinable)
        twin.feed(page)
        windowed.feed(page)
        windowed.finish()
        found[joinable] = 0 in windowed.found
    assert found == {True: True, False: False}


def test_a_long_page_keeps_a_bounded_copy_of_its_windows():
    twin, windowed, full = _views(utf8=True, smart=True, codec="utf-8")
    piece = b"caf&eacute; rock &amp; roll " + b"plain words here " * 20
    for _ in range(3000):
        found = list(twin.feed(piece))
        windowed.feed(piece)
        full.feed(piece, found)
        assert windowed._twin_pending_bytes <= 64 * 1024 + 16 * 1024
    windowed.finish()
    full.finish()
    exact = windowed.keys(lambda new, twin: True)
    assert exact is not None and set(+exact) == set(+full.keys(lambda new, twin: True))
