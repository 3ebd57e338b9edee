"""The multi-pattern matcher behind phrase scanning, and its state across chunks.

e2guardian compares bytes and counts every occurrence of every phrase,
overlapping ones included, so both engines here take bytes patterns and bytes
text and report exactly that: the index of each pattern once per place it
ends in the text.

- pyahocorasick (a dependency, always there) walks a trie whose children are
  searched one by one and, at every character, follows the fail links looking
  for a phrase end: about 25 ns a character with e2guardian's ~6,000 English
  phrases, more than half of a whole page scan.
- ahocorasick-rs (optional extra `fast`) compiles the same patterns into a
  DFA, about 3x faster on the same text (bench/phrase_bench.py) for ~12 MB per
  process with those lists.

Neither keeps its state between calls here (ahocorasick-rs cannot, and
pyahocorasick's way of doing it is unsafe, see PyAhoCorasickMatcher), so each stream
keeps the last `longest pattern - 1` bytes and scans them again with the
next chunk, counting only the matches that end in the new text.

"auto" takes ahocorasick-rs when it is installed and can build the DFA, and
pyahocorasick otherwise; both give the same counts (tests/unit/phrases/test_matcher.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Protocol

import ahocorasick

ENGINES = ("auto", "pyahocorasick", "ahocorasick-rs")
_value = itemgetter(1)
_first = itemgetter(0)


class MatchStream(Protocol):
    @property
    def tail(self) -> bytes: ...

    def feed(self, text: bytes) -> Iterable[int]:
        """Pattern indexes of the matches that end in `text` (a continuation)."""
        ...


class Matcher(Protocol):
    engine: str

    def stream(self) -> MatchStream: ...


class _TailStream:
    """Carries the last `keep` bytes of each chunk into the next one."""

    __slots__ = ("_scan", "_keep", "_tail")

    def __init__(self, scan: Callable[[bytes, int], Iterable[int]], keep: int) -> None:
        self._scan = scan  # (haystack, cut) -> indexes of matches ending past `cut`
        self._keep = keep
        self._tail = b""

    @property
    def tail(self) -> bytes:
        return self._tail

    def feed(self, text: bytes) -> Iterable[int]:
        if not text:
            return ()
        tail = self._tail
        haystack = tail + text if tail else text
        keep = self._keep
        self._tail = haystack[-keep:] if keep else b""
        # matches ending within the tail were counted with the last chunk
        return self._scan(haystack, len(tail))


class PyAhoCorasickMatcher:
    # pyahocorasick is built for str keys here, so bytes travel as Latin-1
    # text: one character per byte, positions unchanged. A fresh iterator per
    # chunk: AutomatonSearchIter.set() would carry the automaton's state over
    # without rescanning a tail, but it corrupts the heap in some cases
    # (pyahocorasick 2.3.1, upstream issue #221).
    engine = "pyahocorasick"

    def __init__(self, patterns: Sequence[bytes]) -> None:
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for i, key in enumerate(patterns):
            automaton.add_word(key.decode("latin-1"), i)
        automaton.make_automaton()
        self._iter = automaton.iter
        self._keep = max(map(len, patterns), default=1) - 1

    def _scan(self, haystack: bytes, cut: int) -> Iterable[int]:
        found = self._iter(haystack.decode("latin-1"))  # (index of the last byte, value)
        if not cut:
            return map(_value, found)
        return [value for end, value in found if end >= cut]

    def stream(self) -> MatchStream:
        return _TailStream(self._scan, self._keep)


class RsMatcher:
    engine = "ahocorasick-rs"

    def __init__(self, patterns: Sequence[bytes]) -> None:
        import ahocorasick_rs as rs  # optional: ImportError means "not installed"

        patterns = list(patterns)
        try:
            ac = rs.BytesAhoCorasick(
                patterns, matchkind=rs.MatchKind.Standard, implementation=rs.Implementation.DFA
            )
        except ValueError:  # a DFA too large for its limits: the NFA is still faster
            ac = rs.BytesAhoCorasick(patterns, matchkind=rs.MatchKind.Standard)
        self._find = ac.find_matches_as_indexes
        self._keep = max(map(len, patterns), default=1) - 1

    def _scan(self, haystack: bytes, cut: int) -> Iterable[int]:
        found = self._find(haystack, overlapping=True)  # (index, start, end)
        if not cut:
            return map(_first, found)
        return [m[0] for m in found if m[2] > cut]

    def stream(self) -> MatchStream:
        return _TailStream(self._scan, self._keep)


def build_matcher(patterns: Sequence[bytes], engine: str = "auto") -> Matcher:
    """The matcher for `patterns` (non-empty, distinct bytes) with the chosen engine."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    if engine == "pyahocorasick":
        return PyAhoCorasickMatcher(patterns)
    try:
        return RsMatcher(patterns)
    except Exception:  # noqa: BLE001 - not installed, or cannot take these patterns
        if engine == "ahocorasick-rs":
            raise
    return PyAhoCorasickMatcher(patterns)
