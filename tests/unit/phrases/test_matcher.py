"""Both matcher engines count every occurrence of every bytes pattern,
overlapping ones included, whatever the chunking: the same counts as a
brute-force count."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icapfilter.phrases.matcher import ENGINES, build_matcher

ENGINE_NAMES = [e for e in ENGINES if e != "auto"]
pytest.importorskip("ahocorasick_rs")  # installed with the `fast` extra, as scripts/test does


def brute_force(patterns: list[bytes], text: bytes) -> Counter[int]:
    counts: Counter[int] = Counter()
    for i, p in enumerate(patterns):
        counts[i] += sum(1 for k in range(len(text)) if text.startswith(p, k))
    return +counts


def streamed(engine: str, patterns: list[bytes], chunks: list[bytes]) -> Counter[int]:
    stream = build_matcher(patterns, engine).stream()
    counts: Counter[int] = Counter()
    for c in chunks:
        counts.update(stream.feed(c))
    return counts


def split(text: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


# bytes as e2guardian compares them: ASCII, UTF-8 sequences, Latin-1 bytes, NUL
ALPHABET = [b"a", b"b", b" ", b"\xc3", b"\xa9", b"\xe9", b"\xff", b"\x00"]
patterns_st = st.lists(
    st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=6).map(b"".join),
    min_size=1,
    max_size=12,
    unique=True,
)


@settings(max_examples=300, deadline=None)
@given(
    patterns=patterns_st,
    text=st.lists(st.sampled_from(ALPHABET), max_size=80).map(b"".join),
    cuts=st.lists(st.integers(0, 80), max_size=8),
)
def test_each_engine_counts_every_overlapping_occurrence_across_any_chunking(patterns, text, cuts):
    expected = brute_force(patterns, text)
    for engine in ENGINE_NAMES:
        assert streamed(engine, patterns, split(text, cuts)) == expected, engine


def test_a_phrase_split_over_many_one_byte_chunks_is_found_by_each_engine():
    patterns = [b" naughty words ", b"words", b"ty w"]
    text = b" some naughty words here "
    chunks = [text[i : i + 1] for i in range(len(text))]
    for engine in ENGINE_NAMES:
        assert streamed(engine, patterns, chunks) == Counter({0: 1, 1: 1, 2: 1}), engine


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_each_engine_keeps_only_the_longest_pattern_minus_one_bytes(engine):
    stream = build_matcher([b"abcd", b"x"], engine).stream()
    list(stream.feed(b"0123456789"))
    assert stream.tail == b"789"


def test_auto_takes_the_dfa_engine_when_it_is_installed():
    assert build_matcher([b"a"], "auto").engine == "ahocorasick-rs"
    assert build_matcher([b"a"], "pyahocorasick").engine == "pyahocorasick"


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine must be one of"):
        build_matcher([b"a"], "regex")
