"""e2guardian's file-type lists: ``bannedmimetypelist``, ``bannedextensionlist``,
``exceptionmimetypelist``, ``exceptionextensionlist``.

The file name says what a list holds (as the stock names do; a suffix such
as ``bannedextensionlist.pupils`` is allowed). One entry a line, ``#``
comments (also after an entry: ``.exe  # Program``), ``.Include<path>``.
A bad line is a ``file:line`` error: a file-type list that silently lost an
entry lets that type through.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config.filetypes import extension, mime_type
from ..listio import read_list_file

_NAME = re.compile(r"^(banned|exception)(mimetype|extension)list", re.IGNORECASE)
_INCLUDE = re.compile(r"^\.include<(.*)>$", re.IGNORECASE)
MAX_INCLUDE_DEPTH = 16
#: Far above the stock lists (a few hundred lines).
MAX_BYTES = 16 << 20


class FileTypeListError(ValueError):
    """A list that cannot be used; the message starts with ``file:line``."""


@dataclass
class FileTypeEntries:
    """What the lists of one group add to its keys."""

    block_types: list[str] = field(default_factory=list)
    allow_types: list[str] = field(default_factory=list)
    block_extensions: list[str] = field(default_factory=list)
    allow_extensions: list[str] = field(default_factory=list)


def list_kind(path: str) -> tuple[bool, str]:
    """(is an exception list, ``mimetype`` or ``extension``) from the file name."""
    match = _NAME.match(Path(path).name)
    if match is None:
        raise FileTypeListError(
            f"{path}: a file-type list must be named bannedmimetypelist, bannedextensionlist, "
            "exceptionmimetypelist or exceptionextensionlist (a suffix may follow)")
    return match.group(1).lower() == "exception", match.group(2).lower()


def load_filetype_lists(paths: list[str]) -> FileTypeEntries:
    """The entries of every list in ``paths``; raises FileTypeListError."""
    entries = FileTypeEntries()
    for path in paths:
        exception, kind = list_kind(path)
        target = {
            (False, "mimetype"): entries.block_types,
            (True, "mimetype"): entries.allow_types,
            (False, "extension"): entries.block_extensions,
            (True, "extension"): entries.allow_extensions,
        }[(exception, kind)]
        normalize = mime_type if kind == "mimetype" else extension
        target.extend(_read(Path(path), normalize, (), None))
    return entries


def _read(path: Path, normalize: Callable[[str], str], stack: tuple[str, ...],
          where: str | None) -> list[str]:
    try:
        resolved = str(path.resolve())
    # a NUL in the name (ValueError), a symbolic link loop (RuntimeError before Python 3.13)
    except (OSError, ValueError, RuntimeError) as exc:
        raise FileTypeListError(f"{where or path}: cannot read {path!r}: {exc}") from None
    if resolved in stack:
        raise FileTypeListError(f"{where}: .Include loop through {path}")
    if len(stack) >= MAX_INCLUDE_DEPTH:
        raise FileTypeListError(f"{where}: .Include nested deeper than {MAX_INCLUDE_DEPTH}")
    try:
        data = read_list_file(path, MAX_BYTES)
    except OSError as exc:
        raise FileTypeListError(f"{where or path}: cannot read {path}: "
                                f"{exc.strerror or exc}") from None
    result: list[str] = []
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        include = _INCLUDE.match(line)
        if include:
            inner = Path(include.group(1).strip())
            if not inner.is_absolute():
                inner = path.parent / inner
            result.extend(_read(inner, normalize, (*stack, resolved), f"{path}:{number}"))
            continue
        entry = re.split(r"\s#", line, maxsplit=1)[0].strip()
        try:
            result.append(normalize(entry))
        except ValueError as exc:
            raise FileTypeListError(f"{path}:{number}: {exc}") from None
    return result
