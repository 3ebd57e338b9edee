"""e2guardian / DansGuardian phrase-list syntax.

Lines starting with `<` are entries; `.Include<path>` pulls in another file
(case-insensitive, relative to the including file, `__LISTDIR__` expanded);
`#listcategory: "Name"` names the category of the entries below it and of the
files it includes (an included file's own category does not leak back); other
lines are comments. An entry is one or more `<phrase>` parts (several parts
form a combination, all of which must occur) optionally followed by a
`<weight>` or `<N%>` part; anything after the last `>` is ignored.

Stock lists contain lines e2guardian itself misreads (`<a> <40>`,
`<a><b><70>`, `<text<50>`); we read them as evidently intended and report a
warning, so the admin knows the two filters differ on that line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .listfile import read_list_lines
from .model import LoadError, Weight
from .normalize import clean_phrase

_WEIGHT = re.compile(r"\s*([+-]?\d+)\s*(%?)\s*")
_PART = re.compile(r"<([^<>]*)(>?)")
_SEPARATORS = " \t,"
_MAX_INCLUDE_DEPTH = 32


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One parsed entry before duplicate resolution."""

    parts: tuple[str, ...]
    weight: Weight | None  # None: banned, or exception in an exception list
    category: str | None
    source: str


def parse_entry(line: str) -> tuple[tuple[str, ...], Weight | None, list[str], str | None]:
    """Parse a stripped line starting with `<`.

    Returns (cleaned parts, weight, warnings, error); on error the other
    values are meaningless.
    """
    warnings: list[str] = []
    parts: list[tuple[str, bool]] = []  # (raw text, closed by '>')
    seps: list[str] = []
    pos, n = 0, len(line)
    while pos < n and line[pos] == "<":
        m = _PART.match(line, pos)
        assert m is not None
        text, closed = m.group(1), bool(m.group(2))
        pos = m.end()
        sep_start = pos
        if not closed:
            # `< animais,< foda >`: the ',' belongs to the separator
            stripped = text.rstrip(_SEPARATORS)
            sep_start -= len(text) - len(stripped)
            text = stripped
        parts.append((text, closed))
        while pos < n and line[pos] in _SEPARATORS:
            pos += 1
        if pos < n and line[pos] == "<":
            seps.append(line[sep_start:pos])
    weight: Weight | None = None
    if len(parts) >= 2:
        wm = _WEIGHT.fullmatch(parts[-1][0])
        if wm:
            weight = Weight(int(wm.group(1)), bool(wm.group(2)))
            if not parts[-1][1]:
                warnings.append("missing '>' after the weight")
            parts.pop()
            seps = seps[: len(parts) - 1]
    for i, (_, closed) in enumerate(parts):
        if not closed:
            if i == len(parts) - 1 and weight is None:
                return (), None, warnings, "phrase has no closing '>'"
            warnings.append("missing '>' after a phrase; read up to the next '<'")
    if len(parts) > 1 and any("," not in s for s in seps):
        warnings.append("combination parts not separated by ','; read as a combination")
    if weight is not None and weight.value == 0 and not weight.percent:
        # e2guardian: a zero weight means "no weight", i.e. a banned phrase
        warnings.append("weight 0 makes this a banned/exception entry (as in e2guardian)")
        weight = None
    cleaned = tuple(clean_phrase(text) for text, _ in parts)
    if not cleaned or any(not c for c in cleaned):
        return (), None, warnings, "empty phrase"
    return cleaned, weight, warnings, None


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

    def parse(self, path: Path) -> list[RawEntry]:
        entries: list[RawEntry] = []
        self._parse(Path(path), None, entries, ())
        return entries

    def _err(self, path: Path, line: int, msg: str, level: str = "error") -> None:
        self.errors.append(LoadError(str(path), line, msg, level))

    def _parse(
        self,
        path: Path,
        category: str | None,
        entries: list[RawEntry],
        stack: tuple[Path, ...],
    ) -> None:
        try:
            lines = read_list_lines(path)
        except OSError as exc:
            where = stack[-1] if stack else path
            self._err(where, 0, f"cannot read {path}: {exc.strerror or exc}")
            return
        self.files.append(path)
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("<"):
                parts, weight, warnings, error = parse_entry(line)
                for w in warnings:
                    self._err(path, lineno, w, "warning")
                if error is not None:
                    # e2guardian drops such lines silently; they are usually
                    # truncated edits, so only warn
                    self._err(path, lineno, error, "warning" if "closing" in error else "error")
                    continue
                entries.append(RawEntry(parts, weight, category, f"{path}:{lineno}"))
            elif line[:9].lower() == ".include<":
                spec = line[9:].split(">", 1)[0].strip()
                if ">" not in line[9:] or not spec or "\0" in spec:  # NUL: resolve() raises
                    self._err(path, lineno, "malformed .Include line")
                    continue
                target = _include_target(spec, path, self.list_dir, self.aliases)
                resolved = target.resolve()
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
                self._parse(target, category, entries, (*stack, path.resolve()))
            elif line.lower().startswith("#listcategory:"):
                value = line.split(":", 1)[1].strip()
                if value.count('"') >= 2:
                    value = value.split('"')[1]
                category = value.strip() or None
            elif line.lower().startswith("#time:"):
                self._err(path, lineno, "#time: limits are not supported; ignored", "warning")
