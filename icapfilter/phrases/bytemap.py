"""e2guardian 5.3.5's page-byte mapping and its two passes, on bytes.

`NaughtyFilter::checkme` lowercases a copy of the page byte by byte: ASCII
A-Z and 0xC0-0xDD get +32 (the "accented" Latin-1 capitals, which also hits
the lead bytes of UTF-8 two-byte characters), white space and most ASCII
punctuation become spaces. Which punctuation depends on the filter mode: when
a smart pass runs (modes 1 and 2) `< = > @` survive, because the smart pass
needs `<` and `>` to find tags; in raw-only mode (0) `: ; < = > ? @` all
become spaces. `.` `/` `{ | } ~`, digits, DEL and the other high bytes are
always kept. List entries are never mapped, so an entry holding a byte the
page mapping changes can never match ("dead").

The smart pass deletes every `<...>` span (the first `>` ends it, quotes mean
nothing), turns a stray `>` into a space, hides everything after a `<` that
is never closed, starts with one space and folds space runs; e2guardian then
hands `checkphrase` one byte less than it built, so the last byte never
matches. The raw pass is the mapped page with `<` and `>` as spaces, space
runs kept.
"""

from __future__ import annotations

import re
from functools import partial

SPACE = 0x20
#: e2guardian's `phrasefiltermode` numbers for our mode names.
E2G_FILTER_MODE = {"raw": 0, "smart": 1, "both": 2}


def _table(*, raw_only: bool, fold_high: bool = True) -> bytes:
    t = bytearray(range(256))
    for c in range(256):
        if 0x41 <= c <= 0x5A:
            t[c] = c + 32
        elif 0xC0 <= c <= 0xDD:
            if fold_high:
                t[c] = c + 32
        elif c < 46 or (91 <= c <= 96):
            t[c] = SPACE
        elif raw_only and 58 <= c <= 64:
            t[c] = SPACE
        elif not raw_only and c in (58, 59, 63):
            t[c] = SPACE
    return bytes(t)


#: Modes 1 and 2 (a smart pass runs): `< = > @` kept.
PAGE_TABLE = _table(raw_only=False)
#: Mode 0 (raw only): `: ; < = > ? @` become spaces too.
RAW_ONLY_TABLE = _table(raw_only=True)
#: The raw pass of mode 2: PAGE_TABLE, then `<` and `>` as spaces.
RAW_PASS_TABLE = bytes(SPACE if c in (0x3C, 0x3E) else PAGE_TABLE[c] for c in range(256))
#: The Unicode-folded view of UTF-8 pages (default mode's extra view): ASCII
#: as e2guardian maps it, every byte >= 0x80 untouched (case was folded on
#: the decoded text already).
UTF8_VIEW_TABLE = bytes(PAGE_TABLE[c] if c < 0x80 else c for c in range(256))


def dead_bytes(filter_mode: str = "both") -> frozenset[int]:
    """Bytes that never occur in the text a pass scans, for a filter mode."""
    table = RAW_ONLY_TABLE if filter_mode == "raw" else PAGE_TABLE
    dead = {c for c in range(256) if table[c] != c}
    dead.update((0x3C, 0x3E))  # removed by the smart pass, spaces in the raw one
    return frozenset(dead)


_DEAD_BOTH = dead_bytes("both")
_DEAD_UTF8_VIEW = frozenset(c for c in _DEAD_BOTH if c < 0x80)


def dead_byte_in(entry: bytes, *, utf8_view: bool = False) -> int | None:
    """The first byte of `entry` that a page never shows (mode 2), or None."""
    dead = _DEAD_UTF8_VIEW if utf8_view else _DEAD_BOTH
    for c in entry:
        if c in dead:
            return c
    return None


_TAG_SPAN = partial(re.compile(rb"<[^>]*>").sub, b" ")


class SmartStrip:
    """Streaming `<...>` removal on raw page bytes (tags become one space).

    Mapping does not touch `<` or `>`, so stripping before or after mapping
    gives the same bytes; stripping first lets the extra views of default mode
    share it. Only state: whether the input ended inside a `<`.
    """

    __slots__ = ("in_tag",)

    def __init__(self) -> None:
        self.in_tag = False

    def feed(self, data: bytes) -> bytes:
        lead = b""
        if self.in_tag:
            gt = data.find(b">")
            if gt == -1:
                return b""
            self.in_tag = False
            data = data[gt + 1 :]
            lead = b" "
        if b"<" in data:
            data = _TAG_SPAN(data)
            lt = data.find(b"<")
            if lt != -1:  # never closed in what we have: hidden up to a later '>'
                self.in_tag = True
                data = data[:lt]
        if b">" in data:
            data = data.replace(b">", b" ")
        return lead + data if lead else data


class SpaceFolder:
    """Folds space runs across chunks; the output starts with one space."""

    __slots__ = ("last_space",)

    def __init__(self) -> None:
        self.last_space = False

    def start(self) -> bytes:
        self.last_space = True
        return b" "

    def feed(self, mapped: bytes) -> bytes:
        if not mapped:
            return mapped
        if b"  " in mapped:
            # split/join folds faster than a regex (mapped text has no white
            # space but 0x20 left); the edge spaces are put back
            core = b" ".join(mapped.split())
            lead = b" " if mapped[0] == SPACE else b""
            trail = b" " if mapped[-1] == SPACE and core else b""
            mapped = lead + core + trail
        if self.last_space and mapped[0] == SPACE:
            mapped = mapped[1:]
            if not mapped:
                return mapped
        self.last_space = mapped[-1] == SPACE
        return mapped


class HoldLast:
    """Keeps back the last byte of a stream: e2guardian never scans it."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        if not data:
            return data
        out = self._held + data if self._held else data
        self._held = out[-1:]
        return out[:-1]

    @property
    def held(self) -> bytes:
        return self._held
