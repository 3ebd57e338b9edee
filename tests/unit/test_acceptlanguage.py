"""Accept-Language: the block page's language is the best the browser accepts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icapfilter.acceptlanguage import MAX_RANGES, choose_language, parse_accept_language

PAGES = {"en", "fr", "de", "es"}


@pytest.mark.parametrize("header, language", [
    ("fr", "fr"),
    ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),  # fr-ch falls back to fr
    ("de-DE", "de"),
    ("en;q=0.5, de;q=0.9", "de"),              # by weight, not by order
    ("de;q=0.8, fr;q=0.8", "de"),              # a tie keeps the header's order
    ("it, es;q=0.3", "es"),                    # no Italian page: the next accepted
    ("it", "en"),                              # nothing fits: the default
    ("*", "en"),                               # anything: the default first
    ("*, en;q=0", "de"),                       # anything but English
    ("fr;q=0, *;q=0.1", "en"),
    ("", "en"),
    (None, "en"),
    ("FR", "fr"),
    ("fr;q=1.5, de", "de"),                    # an invalid weight drops its range
    ("fr;q=abc, es;q=0.2", "es"),
    ("zh-Hant-TW, fr;q=0.1", "fr"),
    ("12, fr", "fr"),
    ("fr;level=1;q=0.5, de;q=0.4", "fr"),      # other parameters are ignored
    ("fr;qs=0, de;q=0.4", "fr"),               # qs is not q
    ("fr;Q = 0.2, de;q=0.4", "de"),
])
def test_the_best_accepted_language_wins(header, language):
    assert choose_language(header, PAGES, "en") == language


def test_weights_are_read_with_up_to_three_decimals():
    assert parse_accept_language("de;q=0.123, fr;q=0.5, it;q=0.1234") == [
        ("fr", 0.5), ("de", 0.123)]


def test_a_huge_header_is_read_only_so_far():
    header = ", ".join(["xx"] * 10_000 + ["fr"])
    assert choose_language(header, PAGES, "en") == "en"
    assert len(parse_accept_language(header)) <= MAX_RANGES


tags = st.from_regex(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8}){0,2}|\*", fullmatch=True)
weights = st.one_of(st.none(), st.sampled_from(["0", "0.5", "1", "0.001", "1.000", "0.999"]))


@given(st.lists(st.tuples(tags, weights), max_size=8))
def test_the_chosen_page_is_never_one_the_browser_refused_unless_nothing_fits(ranges):
    header = ", ".join(tag if w is None else f"{tag};q={w}" for tag, w in ranges)
    chosen = choose_language(header, PAGES, "en")
    assert chosen in PAGES
    parsed = parse_accept_language(header)
    refused = {t for t, w in parsed if w == 0}
    best = [t for t, w in parsed if w > 0]
    if chosen != "en":
        assert chosen not in refused
        assert any(t == chosen or t.startswith(chosen + "-") or t == "*" for t in best)


@given(st.lists(st.tuples(st.sampled_from(sorted(PAGES)), st.integers(1, 1000)),
                min_size=1, max_size=6, unique_by=lambda r: r[0]))
def test_the_page_with_the_highest_weight_is_chosen(ranges):
    header = ",".join(f"{tag};q={q / 1000:.3f}" for tag, q in ranges)
    top = max(q for _, q in ranges)
    first_best = next(tag for tag, q in ranges if q == top)
    assert choose_language(header, PAGES, "en") == first_best


@given(st.text(max_size=200))
def test_any_header_gives_a_page_and_never_raises(header):
    assert choose_language(header, PAGES, "en") in PAGES
