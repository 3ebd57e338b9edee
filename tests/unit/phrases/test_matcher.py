"""Both matcher engines count every occurrence, overlapping ones included,
whatever the chunking: the same counts as a brute-force count."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icapfilter.phrases.matcher import ENGINES, build_matcher

ENGINE_NAMES = [e for e in ENGINES if e != "auto"]
pytest.importorskip("ahocorasick_rs")  # installed with the `fast` extra, as scripts/test does


def brute_force(patterns: list[str], text: str) -> Counter[int]:
    counts: Counter[int] = Counter()
    for i, p in enumerate(patterns):
        counts[i] += sum(1 for k in range(len(text)) if text.startswith(p, k))
    return +counts


def streamed(engine: str, patterns: list[str], chunks: list[str]) -> Counter[int]:
    stream = build_matcher(patterns, engine).stream()
    counts: Counter[int] = Counter()
    for c in chunks:
        counts.update(stream.feed(c))
    return counts


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


ALPHABET = "ab é\U0001f600\ud800"
patterns_st = st.lists(
    st.text(alphabet="ab é\U0001f600", min_size=1, max_size=6), min_size=1, max_size=12, unique=True
)


@settings(max_examples=300, deadline=None)
@given(
    patterns=patterns_st,
    text=st.text(alphabet=ALPHABET, max_size=80),
    cuts=st.lists(st.integers(0, 80), max_size=8),
)
def test_each_engine_counts_every_overlapping_occurrence_across_any_chunking(patterns, text, cuts):
    expected = brute_force(patterns, text.replace("\ud800", "\ufffd"))
    for engine in ENGINE_NAMES:
        assert streamed(engine, patterns, split(text, cuts)) == expected, engine


def test_a_phrase_split_over_many_one_character_chunks_is_found_by_each_engine():
    patterns = [" naughty words ", "words", "ty w"]
    text = " some naughty words here "
    for engine in ENGINE_NAMES:
        assert streamed(engine, patterns, list(text)) == Counter({0: 1, 1: 1, 2: 1}), engine


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_each_engine_keeps_only_the_longest_pattern_minus_one_characters(engine):
    stream = build_matcher(["abcd", "x"], engine).stream()
    list(stream.feed("0123456789"))
    assert stream._tail == "789"


ASTRAL_SCRIPT = """
import sys
from collections import Counter
from icapfilter.phrases.matcher import build_matcher
stream = build_matcher(["ab", "\\U0001f600b"], sys.argv[1]).stream()
counts = Counter()
for chunk in ["a", "\\U00022472", "b", "a" * 40, "\\U0001f600", "b", "ab"]:
    counts.update(stream.feed(chunk))
print(sorted(counts.items()))
"""


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_chunks_mixing_astral_and_plain_text_are_scanned_without_corrupting_memory(engine):
    # pyahocorasick's AutomatonSearchIter.set() overruns its buffer on such a
    # sequence (upstream issue #221): a segfault later, somewhere else, or an
    # abort at once under PYTHONMALLOC=debug, which is why it runs apart
    run = subprocess.run(
        [sys.executable, "-c", ASTRAL_SCRIPT, engine],
        env={**os.environ, "PYTHONMALLOC": "debug"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[(0, 1), (1, 1)]"


def test_auto_takes_the_dfa_engine_when_it_is_installed():
    assert build_matcher(["a"], "auto").engine == "ahocorasick-rs"
    assert build_matcher(["a"], "pyahocorasick").engine == "pyahocorasick"


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine must be one of"):
        build_matcher(["a"], "regex")
