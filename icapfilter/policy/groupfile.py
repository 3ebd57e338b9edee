"""e2guardian's ``filtergroupslist``: user names mapped to filter groups.

The format is e2guardian 5.3's (``lists/filtergroupslist``): one
``user=filterN`` a line, ``N`` counting the filter groups from 1; here the
``[[groups]]`` tables in file order, so ``filter1`` is the first. A group may
also be named (``alice=staff``). User names are compared in lower case, as
e2guardian does. ``#`` starts a comment at the beginning of a line or after
a space; ``.Include<file>`` reads another file (relative to the including
file's folder). Unlike e2guardian, which skips what it cannot read, every bad
line is an error naming ``file:line``: a user silently left in the default
group is the mistake an admin does not see.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Problems listed in one error; the rest are counted.
MAX_SHOWN = 20
MAX_INCLUDE_DEPTH = 8
_FILTER_N = re.compile(r"^filter([0-9]{1,3})$", re.IGNORECASE)
_INCLUDE = re.compile(r"^\.include<(.*)>$", re.IGNORECASE)


class GroupFileError(ValueError):
    """Bad lines of a user-to-group file; the message lists them as ``file:line: why``."""

    def __init__(self, problems: Sequence[str]) -> None:
        shown = list(problems[:MAX_SHOWN])
        if len(problems) > MAX_SHOWN:
            shown.append(f"... and {len(problems) - MAX_SHOWN} more")
        super().__init__("\n".join(shown))
        self.problems = list(problems)


class _Reader:
    def __init__(self, groups: Sequence[str]) -> None:
        self.groups = list(groups)
        self.folded = {g.lower(): g for g in self.groups}
        self.users: dict[str, str] = {}
        self.where: dict[str, str] = {}
        self.problems: list[str] = []

    def group_of(self, value: str) -> str | None:
        """The group a right-hand side names, or None (a problem is recorded by the caller)."""
        if value in self.groups:
            return value
        numbered = _FILTER_N.match(value)
        if numbered:
            n = int(numbered.group(1))
            return self.groups[n - 1] if 1 <= n <= len(self.groups) else None
        return self.folded.get(value.lower())

    def unknown(self, value: str) -> str:
        if _FILTER_N.match(value):
            numbered = ", ".join(f"filter{i} = {g}" for i, g in enumerate(self.groups, 1))
            return (f"no group {value!r}: the configuration has {len(self.groups)} "
                    f"group(s) ({numbered})")
        hint = difflib.get_close_matches(value, self.groups, n=1)
        return f"no group {value!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "") + \
            f"; groups: {', '.join(self.groups)}"

    def read(self, path: Path, stack: tuple[Path, ...] = ()) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            return
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        for lineno, raw in enumerate(data.split(b"\n"), 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                self.problems.append(f"{path}:{lineno}: invalid UTF-8")
                continue
            if " #" in line or "\t#" in line:
                line = re.split(r"\s#", line, maxsplit=1)[0].rstrip()
            if not line or line.startswith("#"):
                continue
            self.line(path, lineno, line, stack)

    def line(self, path: Path, lineno: int, line: str, stack: tuple[Path, ...]) -> None:
        where = f"{path}:{lineno}"
        include = _INCLUDE.match(line)
        if include:
            target = Path(include.group(1).strip())
            target = target if target.is_absolute() else path.parent / target
            try:
                resolved = target.resolve()
            # a NUL in the name (ValueError), a symbolic link loop (RuntimeError before 3.13)
            except (OSError, ValueError, RuntimeError) as exc:
                self.problems.append(f"{where}: cannot include {str(target)!r}: {exc}")
                return
            if resolved in stack or resolved == path.resolve():
                self.problems.append(f"{where}: include cycle: {target}")
            elif len(stack) >= MAX_INCLUDE_DEPTH:
                self.problems.append(f"{where}: includes nested deeper than {MAX_INCLUDE_DEPTH}")
            elif not target.is_file():
                self.problems.append(f"{where}: cannot include {target}: no such file")
            else:
                self.read(target, (*stack, path.resolve()))
            return
        user, sep, value = line.rpartition("=")
        user, value = user.strip().lower(), value.strip()
        if not sep or not user or not value:
            self.problems.append(f"{where}: expected USER=filterN or USER=GROUP, got {line[:80]!r}")
            return
        group = self.group_of(value)
        if group is None:
            self.problems.append(f"{where}: {self.unknown(value)}")
            return
        known = self.users.get(user)
        if known is not None and known != group:
            self.problems.append(f"{where}: {user!r} is already in group {known!r} "
                                 f"({self.where[user]})")
            return
        self.users[user] = group
        self.where.setdefault(user, where)


def read_group_file(path: str | Path, groups: Sequence[str]) -> Mapping[str, str]:
    """User name (lower case) -> group name, from ``path``; ``groups`` are the
    configured group names in file order. Raises :class:`GroupFileError`
    listing every bad line."""
    reader = _Reader(groups)
    reader.read(Path(path))
    if reader.problems:
        raise GroupFileError(reader.problems)
    return reader.users
