"""The fast paths of the normalizer give exactly the obvious definition's result.

The reference below is the normalisation written the slow, obvious way: every
Unicode punctuation or white-space character to a space, ASCII separators to
spaces, case folding of the whole text, runs of spaces folded.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from icapfilter.phrases.normalize import _ASCII_SEPARATORS, TextNormalizer, _map


def reference_map(text: str) -> str:
    out = []
    for c in text:
        if c < "\x80":
            sep = c < "/" or c in _ASCII_SEPARATORS or c.isspace()
        else:
            sep = ord(c) < 0x10000 and (unicodedata.category(c)[0] == "P" or c.isspace())
        out.append(" " if sep else c)
    return "".join(out).casefold()


def reference(text: str) -> str:
    core = " ".join(reference_map(text).split())
    return f" {core} " if core else " "


def streamed(pieces: list[str]) -> str:
    norm = TextNormalizer()
    return norm.start() + "".join(norm.feed(p) for p in pieces) + norm.finish()


ascii_text = st.text(alphabet=st.characters(max_codepoint=127), max_size=300)
any_text = st.text(max_size=300)


@given(st.lists(ascii_text, max_size=8))
def test_ascii_pieces_normalize_like_the_whole_text(pieces):
    assert streamed(pieces) == reference("".join(pieces))


@given(st.lists(st.one_of(ascii_text, any_text), max_size=8))
def test_mixed_ascii_and_unicode_pieces_normalize_like_the_whole_text(pieces):
    assert streamed(pieces) == reference("".join(pieces))


special = st.sampled_from(["\u00a0", "\u2019", "\u201c", "\u00df", "\u0130", "\u212a", "\u1e9e",
                           "\u03a3", "\u00c9", "\u3000", "\ud800", "\U0001f600", "\u00ad", "  "])
dense_text = st.lists(st.one_of(special, st.characters()), max_size=60).map("".join)


@given(dense_text)
def test_map_equals_per_character_mapping_then_casefold(text):
    assert _map(text) == reference_map(text)


@given(st.lists(dense_text, max_size=8))
def test_dense_unicode_pieces_normalize_like_the_whole_text(pieces):
    assert streamed(pieces) == reference("".join(pieces))
