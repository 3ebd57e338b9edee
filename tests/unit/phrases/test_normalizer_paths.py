"""The ASCII fast path of the page normalizer gives exactly the general result."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from icapfilter.phrases.normalize import TextNormalizer, _map


def reference(text: str) -> str:
    core = " ".join(_map(text).split())
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
