"""The one text normalisation applied to phrases and to page text alike.

Phrases and pages must go through the same function, otherwise a phrase can
never match. It follows e2guardian's `String::removePunctuation` for ASCII
(bytes below '/', `: ; = ? @`, `[ \\ ] ^ _ \\``, plus `<` `>` which the raw
pass turns into spaces) and extends it to Unicode: every white-space character
and every Unicode punctuation character (category P*) becomes a space, runs of
spaces fold to one, and the result is case-folded (`str.casefold`), so that
"STRASSE", "Straße" and "strasse" are one phrase.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_ASCII_SEPARATORS = ":;=?@[\\]^_`<>"


def _byte_table() -> bytes:
    # Applied to UTF-8 bytes: only ASCII bytes are remapped, so multibyte
    # sequences (all bytes >= 0x80) pass through untouched.
    table = bytearray(range(256))
    for c in range(0x80):
        if c < 0x2F or chr(c) in _ASCII_SEPARATORS or chr(c).isspace():
            table[c] = 0x20
    return bytes(table)


_BYTE_TABLE = _byte_table()
_SPACE_RUNS = re.compile(rb"  +")
_STR_SPACE_RUNS = re.compile("  +")


@lru_cache(maxsize=1)
def _non_ascii_punct() -> re.Pattern[str]:
    # Unicode punctuation and, so that space runs can be folded with one regex,
    # every non-ASCII white-space character (NBSP from &nbsp; is common).
    points = [
        c
        for c in range(0x80, 0x10000)
        if unicodedata.category(chr(c))[0] == "P" or chr(c).isspace()
    ]
    ranges: list[tuple[int, int]] = []
    for c in points:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    cls = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{cls}]")


def _map(s: str) -> str:
    """Separators to spaces and case folding, without folding space runs."""
    if not s.isascii():
        s = _non_ascii_punct().sub(" ", s)
    return (
        s.encode("utf-8", "surrogatepass")
        .translate(_BYTE_TABLE)
        .decode("utf-8", "surrogatepass")
        .casefold()
    )


def clean_phrase(raw: str) -> str:
    """Normalise the text between `<` and `>` of a list entry.

    A leading or trailing space is significant (word boundary), so it is kept
    as exactly one space; an entry that is only separators gives "".
    """
    mapped = _map(raw)
    core = " ".join(mapped.split())
    if not core:
        return ""
    lead = " " if mapped[:1].isspace() else ""
    trail = " " if mapped[-1:].isspace() else ""
    return f"{lead}{core}{trail}"


class TextNormalizer:
    """Streaming form of the same normalisation for page text.

    The output starts with one space and `finish()` ends it with one, so that
    `< word >` entries match at the very start and end of a page, and space
    runs are folded across chunk boundaries: feeding a text in any number of
    pieces yields exactly the same output.
    """

    __slots__ = ("_last_space",)

    def __init__(self) -> None:
        self._last_space = False

    def start(self) -> str:
        self._last_space = True
        return " "

    def feed(self, text: str) -> str:
        if not text:
            return ""
        # After _map every white-space character is a plain space, so one regex
        # folds the runs (str.split/join cost twice as much); on ASCII the byte
        # table does all the mapping and bytes.lower() equals casefold().
        if text.isascii():
            folded = _SPACE_RUNS.sub(
                b" ", text.encode("ascii").translate(_BYTE_TABLE).lower()).decode("ascii")
        else:
            folded = _STR_SPACE_RUNS.sub(" ", _map(text))
        if self._last_space and folded[:1] == " ":
            folded = folded[1:]
        if folded:
            self._last_space = folded[-1] == " "
        return folded

    def finish(self) -> str:
        if self._last_space:
            return ""
        self._last_space = True
        return " "
