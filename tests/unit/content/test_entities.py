"""References.unescape is html.unescape, whatever the mix of references."""

from __future__ import annotations

from html import unescape

from hypothesis import given, settings
from hypothesis import strategies as st

from icapfilter.content.entities import References


def fast_unescape(text: str) -> str:
    return References().unescape(text)

PIECES = [
    "&", "&amp;", "&nbsp;", "&copy;", "&lt;", "&gt;", "&quot;", "&#39;", "&#65;", "&#x41;",
    "&#38;", "&#59;", "&semi;", "&excl;", "&not", "&notin;", "&noti", "&amp", "&#", "&#x",
    "&eacute;", "&Eacute", "&unknown;", "&#0;", "&#xD800;", "&#1114112;", "&#128;", ";", "#",
    "a", "t", "in", "x", "1", " ", "\n", "<", "\xa0", "&&", "&;", "&#;", "no", "amp;",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
def test_fast_unescape_equals_html_unescape(pieces):
    text = "".join(pieces)
    assert fast_unescape(text) == unescape(text)


@settings(deadline=None)
@given(st.text(alphabet=st.sampled_from("&#;amp0x9AbtnoiE\xa0 "), max_size=60))
def test_fast_unescape_equals_html_unescape_on_dense_ampersands(text):
    assert fast_unescape(text) == unescape(text)


def test_a_reference_value_is_never_read_again():
    # "&no" + "&#116;" reads "&no" then "t", not "&not"
    assert fast_unescape("&no&#116;") == unescape("&no&#116;") == "&not"
    assert fast_unescape("&amp;lt;") == "&lt;"


def test_one_cache_serves_many_texts_and_stays_bounded():
    refs = References()
    for i in range(10_000):
        text = f"x&#{i};y&amp;z&bogus{i};"
        assert refs.unescape(text) == unescape(text)
    assert len(refs) <= 4096
