"""Reading list files whose encoding nobody declared.

e2guardian compares bytes, so its stock lists come in whatever encoding the
target pages used: most are ASCII or UTF-8, some Latin-1, the Russian ones
windows-1251 (the file under `russian-koi8-r/` is byte-identical to the
windows-1251 one) and the Japanese ones mix UTF-8, EUC-JP and Shift_JIS
sections in one file. Matching uses the bytes as they are; the charset is
only needed to show an entry to a person: UTF-8 when the line is valid UTF-8,
else the charset that the file's path, a charset-name comment (`#Shift_JIS`)
or the content points at, else Latin-1.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from ..listio import read_list_file

# path fragments -> candidate charsets for lines that are not UTF-8
_PATH_HINTS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"russian|cyril|koi8|1251|ukrain|bulgar|serbian", re.I), ("cp1251", "koi8_r")),
    (re.compile(r"japan|sjis|shift.?jis|euc.?jp", re.I), ("euc_jp", "cp932")),
    (re.compile(r"big5|taiwan", re.I), ("big5",)),
    (re.compile(r"chinese|gb2312|gbk|gb18030", re.I), ("gb18030",)),
    (re.compile(r"korean|euc.?kr", re.I), ("euc_kr",)),
    (re.compile(r"greek", re.I), ("cp1253",)),
)

# comment lines that name a charset switch the charset of the section below
_SECTION = re.compile(rb"^\s*#\s*([A-Za-z][A-Za-z0-9_.:-]{2,20})\s*$")
_SECTION_CHARSETS = {
    "shift_jis": "cp932",
    "sjis": "cp932",
    "euc-jp": "euc_jp",
    "utf-8": "utf-8",
    "koi8-r": "koi8_r",
    "windows-1251": "cp1251",
    "cp1251": "cp1251",
    "big5": "big5",
    "gb2312": "gb18030",
}


def _is_cjk_or_kana(ch: str) -> bool:
    o = ord(ch)
    return 0x3040 <= o <= 0x30FF or 0x4E00 <= o <= 0x9FFF or 0xFF00 <= o <= 0xFFEF


def _plausibility(text: str, charset: str) -> int:
    """Higher is more likely to be the right decoding of a list line.

    Cyrillic word lists are mostly lower case, and the classic
    windows-1251/KOI8-R confusion swaps the cases, so count lower minus upper.
    For CJK count ideographs and kana.
    """
    if charset in ("cp1251", "koi8_r"):
        return sum(1 for c in text if c.islower()) - sum(1 for c in text if c.isupper())
    return sum(1 for c in text if _is_cjk_or_kana(c))


def _try(raw: bytes, charset: str) -> str | None:
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_list_lines(data: bytes, path: str) -> list[str]:
    """Split a list file into decoded lines (line endings removed)."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    return [raw.decode(cs, "replace").rstrip("\r") for raw, cs in list_line_charsets(data, path)]


def list_line_charsets(data: bytes, path: str) -> list[tuple[bytes, str]]:
    """Each line's bytes (split at `\\n`, nothing else removed) and its charset."""
    raw_lines = data.split(b"\n")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return [(ln, "utf-8") for ln in raw_lines]

    candidates: tuple[str, ...] = ()
    for pattern, charsets in _PATH_HINTS:
        if pattern.search(path):
            candidates = charsets
            break
    # one charset for the whole file when there is a choice to make on content
    file_choice: str | None = None
    if len(candidates) > 1 and candidates[0] == "cp1251":
        foreign = b"\n".join(ln for ln in raw_lines if _try(ln, "utf-8") is None)
        scores = {
            cs: _plausibility(text, cs)
            for cs in candidates
            if (text := _try(foreign, cs)) is not None
        }
        if scores:
            file_choice = max(scores, key=lambda cs: scores[cs])

    section: str | None = None
    lines: list[tuple[bytes, str]] = []
    for raw in raw_lines:
        m = _SECTION.match(raw)
        if m:
            section = _SECTION_CHARSETS.get(m.group(1).decode("ascii").lower(), section)
        lines.append((raw, _line_charset(raw, section, file_choice, candidates)))
    return lines


def _line_charset(
    raw: bytes, section: str | None, file_choice: str | None, candidates: tuple[str, ...]
) -> str:
    if _try(raw, "utf-8") is not None:
        return "utf-8"
    for cs in (section, file_choice):
        if cs is not None and _try(raw, cs) is not None:
            return cs
    decoded = [(cs, t) for cs in candidates if (t := _try(raw, cs)) is not None]
    if decoded:
        return max(decoded, key=lambda d: _plausibility(d[1], d[0]))[0]
    return "latin-1"


def read_list_lines(path: Path) -> list[str]:
    return decode_list_lines(read_list_file(path), str(path))


def read_list_bytes(path: Path) -> list[tuple[bytes, str]]:
    """Lines of a list file as e2guardian reads them, each with a display charset."""
    return list_line_charsets(read_list_file(path), str(path))
