"""e2guardian / DansGuardian phrase-list syntax, read as e2guardian 5.3.5 reads it.

`ListContainer::readPhraseList` works on bytes: each line (split at `\\n`, cut
at a NUL) is trimmed of space, tab, CR and LF and ASCII-lowercased (not under
`#noconvert`); a line starting with `<` is an entry, `.Include<path>` pulls in
another file, `#listcategory: "Name"` names the category of the entries below
it (and of included files; a category set inside an include does not leak
back), `#time:` limits them in time the same way (timewindow.py); every other
line is ignored.

An entry is read with plain substring searches, not a grammar:

- weight: the number between the first `><` and the next `%>` (a percentage
  of the group's limit), else between that `><` and the next `>`; C `atoi`, so
  `<a><b><70>` has weight 0. A weight of 0 means "no weight": banned, or
  exception in the exception list. A percentage is resolved with limit 0 in
  the exception list, so it is always an exception entry there.
- combination: when the text after the first `>,` is longer than 2 bytes;
  then each part is what lies between a `<` and the next `>`, the next part
  starting after the next `>,`. Otherwise the one phrase is what lies between
  the first `<` and the first `>` after it.
- a part longer than 127 bytes is cut to 127; an empty one is dropped (a
  combination simply loses it).

So `< nakna brdar > <40>` is the banned phrase ` nakna brdar `,
`<dojrzałe kobiety><porno><70>` the banned phrase `dojrzałe kobiety`, and
`<incest rape<50>` the banned phrase `incest rape<50`, which can never match.
Each such line gets a warning naming what e2guardian reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .listfile import read_list_bytes
from .model import LoadError, Weight
from .timewindow import TimeWindow, time_window

_MAX_INCLUDE_DEPTH = 32
#: `ListContainer::readPhraseListHelper2`: longer phrases are truncated.
MAX_PHRASE_BYTES = 127
_TRIM = b" \t\r\n"
_ATOI = re.compile(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)")
_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_NUMBER = re.compile(rb"\s*[+-]?[0-9]+\s*%?\s*")
_WEIGHT_START = re.compile(rb"<\s*[+-]?[0-9]")


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One entry as e2guardian stores it, before duplicate resolution."""

    parts: tuple[bytes, ...]  # the bytes matched against the page
    combination: bool
    weight: Weight | None  # None: banned, or exception in an exception list
    category: str | None
    source: str  # "file:line"
    display: tuple[str, ...]  # the parts decoded for people
    window: TimeWindow | None = None  # a #time: tag above it (schedules)


@dataclass(frozen=True, slots=True)
class ParsedLine:
    parts: tuple[bytes, ...]
    combination: bool
    weight: Weight | None
    warnings: tuple[str, ...]


def c_atoi(text: bytes) -> int:
    """C `atoi` on 64-bit glibc: leading digits, clamped, then cut to an int."""
    m = _ATOI.match(text)
    if m is None:
        return 0
    value = max(-(2**63), min(2**63 - 1, int(m.group(1))))
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def _after(s: bytes, sep: bytes) -> bytes:
    i = s.find(sep)
    return b"" if i < 0 else s[i + len(sep) :]


def _before(s: bytes, sep: bytes) -> bytes:
    i = s.find(sep)
    return b"" if i < 0 else s[:i]


def _show(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def parse_entry(line: bytes, *, exception_file: bool = False) -> ParsedLine:
    """Read one trimmed, lowercased line starting with `<` as e2guardian does."""
    warnings: list[str] = []
    tail = _after(line, b"><")
    percent = c_atoi(_before(tail, b"%>"))
    weight: Weight | None = None
    if percent != 0:
        if exception_file:
            warnings.append(
                "a percentage weight in an exception list is resolved with limit 0 "
                "by e2guardian: this is an exception entry"
            )
        else:
            weight = Weight(percent, percent=True)
    else:
        number = c_atoi(_before(tail, b">"))
        if number != 0:
            weight = Weight(number)
    if weight is not None:
        line = _before(line, b"><") + b">"
    zero_weight = weight is None and percent == 0 and bool(_NUMBER.fullmatch(_before(tail, b">")))
    if zero_weight:
        warnings.append("weight 0 means no weight: read as a banned or exception entry")

    parts: list[bytes] = []
    combination = len(_after(line, b">,")) > 2
    if combination:
        rest = line
        while len(rest) > 2:
            rest = _after(rest, b"<")
            parts.append(_before(rest, b">"))
            rest = _after(rest, b">,")
    else:
        parts.append(_before(_after(line, b"<"), b">"))
        used = line.find(b">", line.find(b"<") + 1)
        ignored = line[used + 1 :].strip() if used >= 0 else b""
        if weight is None and not zero_weight and b"<" in ignored:
            what = "exception" if exception_file else "banned"
            hint = (
                "a weight must follow '>' directly and end with '>', as in <phrase><40>"
                if _WEIGHT_START.match(ignored)
                else "a combination part after ',' is empty or has no '>'"
                if ignored.startswith(b",")
                else "combination parts are joined by ','"
            )
            warnings.append(
                f"e2guardian reads the {what} phrase <{_show(parts[0])}> and ignores "
                f"'{_show(ignored)}' ({hint})"
            )
    kept: list[bytes] = []
    for part in parts:
        if len(part) > MAX_PHRASE_BYTES:
            warnings.append(
                f"phrase longer than {MAX_PHRASE_BYTES} bytes: e2guardian cuts it "
                f"to '{_show(part[:MAX_PHRASE_BYTES])}'"
            )
            part = part[:MAX_PHRASE_BYTES]
        if part:
            kept.append(part)
        elif combination:
            warnings.append("an empty combination part is dropped by e2guardian")
    if not combination and not kept:
        reason = "no closing '>'" if b">" not in line else "empty phrase"
        warnings.append(f"{reason}: e2guardian skips this line")
    elif combination and not kept:
        warnings.append(
            "combination without any phrase: e2guardian applies it to every page"
        )
    return ParsedLine(tuple(kept), combination, weight, tuple(warnings))


def _include_target(
    spec: str, including: Path, list_dir: Path | None, aliases: Mapping[str, Path]
) -> Path:
    if "__LISTDIR__" in spec:
        base = list_dir if list_dir is not None else including.parent
        spec = spec.replace("__LISTDIR__", str(base))
    path = Path(spec)
    if not path.is_absolute():
        return including.parent / path
    if not path.exists():
        for prefix, target in aliases.items():
            pre = prefix.rstrip("/")
            if spec == pre or spec.startswith(pre + "/"):
                return target / spec[len(pre) :].lstrip("/")
    return path


class ListParser:
    """Reads one list file and its includes into RawEntry values.

    `aliases` maps absolute path prefixes to local directories, so lists that
    include `/etc/e2guardian/lists/...` load from wherever they were copied.
    Include paths keep their case and relative ones are taken relative to the
    including file (e2guardian lowercases the path and uses its working
    folder; that only ever breaks a list).
    """

    def __init__(
        self,
        *,
        list_dir: Path | None = None,
        aliases: Mapping[str, Path] | None = None,
    ) -> None:
        self.list_dir = list_dir
        self.aliases = dict(aliases or {})
        self.errors: list[LoadError] = []
        self.files: list[Path] = []

    def parse(self, path: Path, *, exception_file: bool = False) -> list[RawEntry]:
        entries: list[RawEntry] = []
        self._parse(Path(path), None, entries, (), exception_file, None)
        return entries

    def _err(self, path: Path, line: int, msg: str, level: str = "error") -> None:
        self.errors.append(LoadError(str(path), line, msg, level))

    def _parse(
        self,
        path: Path,
        category: str | None,
        entries: list[RawEntry],
        stack: tuple[Path, ...],
        exception_file: bool,
        window: TimeWindow | None,
    ) -> None:
        try:
            lines = read_list_bytes(path)
        except OSError as exc:
            where = stack[-1] if stack else path
            self._err(where, 0, f"cannot read {path}: {exc.strerror or exc}")
            return
        self.files.append(path)
        lower = True
        for lineno, (raw, charset) in enumerate(lines, 1):
            original = raw.split(b"\0", 1)[0]
            line = original.strip(_TRIM)
            if not line:
                continue
            if lower:
                line = line.translate(_LOWER)
            if line.startswith(b"<"):
                self._entry(path, lineno, line, charset, category, entries, exception_file,
                            window)
            elif line.startswith(b"."):
                spec_b = _before(_after(original.strip(_TRIM), b"<"), b">")
                if not line.startswith(b".include<") or not spec_b:
                    if line.startswith(b".include"):
                        self._err(path, lineno, "malformed .Include line")
                    continue
                spec = spec_b.decode("utf-8", "surrogateescape")
                target = _include_target(spec, path, self.list_dir, self.aliases)
                try:
                    resolved = target.resolve()
                except (OSError, ValueError):
                    self._err(path, lineno, f"cannot read include {target}")
                    continue
                if resolved in stack or resolved == path.resolve():
                    self._err(path, lineno, f"include loop via {target}")
                    continue
                if len(stack) >= _MAX_INCLUDE_DEPTH:
                    self._err(path, lineno, "includes nested too deeply")
                    continue
                if not target.is_file():
                    why = "not a regular file" if target.exists() else "no such file"
                    self._err(path, lineno, f"cannot read include {target}: {why}")
                    continue
                self._parse(target, category, entries, (*stack, path.resolve()), exception_file,
                            window)
            elif line.startswith(b"#listcategory:"):
                name = _before(_after(original, b'"'), b'"')
                category = name.decode(charset, "replace") or None
            elif line.startswith(b"#noconvert"):
                lower = False
            elif line.startswith(b"#time: "):
                window = self._time_tag(path, lineno, line) or window
            elif lineno == 1 and line.startswith(b"\xef\xbb\xbf<"):
                self._err(
                    path,
                    lineno,
                    "a UTF-8 byte-order mark starts the file: e2guardian does not read "
                    "this line as an entry",
                    "warning",
                )

    def _time_tag(self, path: Path, lineno: int, line: bytes) -> TimeWindow | None:
        """A ``#time:`` line read as ``readTimeTag`` reads it (phrases/timewindow.py);
        a tag e2guardian refuses is an error and leaves the entries below untouched."""
        rest = _after(line, b"#time: ")
        numbers = []
        for _ in range(4):
            numbers.append(c_atoi(_before(rest, b" ")))
            rest = _after(rest, b" ")
        days = rest.strip(_TRIM).decode("latin-1")
        found, problems = time_window((numbers[0], numbers[1], numbers[2], numbers[3]), days,
                                      line.decode("latin-1"))
        for problem in problems:
            self._err(path, lineno, problem, "warning" if found is not None else "error")
        return found

    def _entry(
        self,
        path: Path,
        lineno: int,
        line: bytes,
        charset: str,
        category: str | None,
        entries: list[RawEntry],
        exception_file: bool,
        window: TimeWindow | None = None,
    ) -> None:
        parsed = parse_entry(line, exception_file=exception_file)
        for w in parsed.warnings:
            self._err(path, lineno, w, "warning")
        if not parsed.parts and not parsed.combination:
            return
        display = tuple(p.decode(charset, "replace") for p in parsed.parts)
        entries.append(
            RawEntry(
                parsed.parts,
                parsed.combination,
                parsed.weight,
                category,
                f"{path}:{lineno}",
                display,
                window,
            )
        )
