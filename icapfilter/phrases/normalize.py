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
from functools import lru_cache, partial

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
_ASCII_BYTES = bytes(range(0x80))


def _is_separator(c: str) -> bool:
    """Non-ASCII characters that act as spaces: punctuation (P*) and white space."""
    return ord(c) < 0x10000 and (unicodedata.category(c)[0] == "P" or c.isspace())


@lru_cache(maxsize=4096)
def _map_char(c: str) -> str:
    return " " if _is_separator(c) else c.casefold()


def _map(s: str) -> str:
    """Separators to spaces and case folding, without folding space runs.

    Works on the UTF-8 bytes, where one `translate` maps every ASCII separator
    and `lower` folds ASCII case; the few distinct non-ASCII characters of a
    page (NBSP, curly quotes, accented letters) are then mapped one by one
    with `str.replace`. Case folding is per character in Python (no context),
    so this equals punctuation-to-space followed by `casefold()` on the whole
    text, at a fraction of the cost of running a regex over every character.
    """
    raw = s.encode("utf-8", "surrogatepass")
    out = raw.translate(_BYTE_TABLE).lower().decode("utf-8", "surrogatepass")
    if len(out) == len(raw):  # pure ASCII
        return out
    for c in set(raw.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")):
        m = _map_char(c)
        if m != c:
            out = out.replace(c, m)
    return out


# Two literal spaces first: the regex engine then scans for the pair in C and
# only starts a match at a real run, instead of at every single space
# (a page has ~7 single spaces for each double one; `  +` costs 3x more).
_fold_spaces = partial(re.compile("   *").sub, " ")


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
        folded = _fold_spaces(_map(text))
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
