"""The file-type keys of a group: MIME types and file-name extensions.

One spelling per entry is kept (lower case, no leading dot), so the policy
compares plain strings and ``config check`` names a bad entry precisely.
"""

from __future__ import annotations

import re
from typing import Protocol

# RFC 9110 token characters, for the type and subtype of a MIME type.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")
# An extension is one or more dot-separated labels of printable characters
# that cannot end a file name on any system a pupil downloads to.
_EXTENSION = re.compile(r"^[^\s./\\:*?\"<>|]+(\.[^\s./\\:*?\"<>|]+)*$")


class _FileTypeKeys(Protocol):
    @property
    def block_types(self) -> list[str]: ...
    @property
    def allow_types(self) -> list[str]: ...
    @property
    def block_extensions(self) -> list[str]: ...
    @property
    def allow_extensions(self) -> list[str]: ...
    @property
    def filetype_lists(self) -> list[str]: ...


def mime_type(entry: str) -> str:
    """``entry`` as a lower-case ``type/subtype``, ``type/*`` or ``*/*``;
    ValueError says what is wrong."""
    value = entry.strip().lower()
    kind, slash, subtype = value.partition("/")
    if not slash or not kind or not subtype:
        raise ValueError(f"{entry!r} is not a MIME type (type/subtype or type/*)")
    if kind == "*" and subtype != "*":
        raise ValueError(f"{entry!r}: only the subtype can be '*' (type/*), or both (*/*)")
    for part in (kind, subtype):
        if part != "*" and not _TOKEN.match(part):
            raise ValueError(f"{entry!r} is not a MIME type (type/subtype or type/*)")
    return value


def extension(entry: str) -> str:
    """``entry`` as a lower-case extension without its leading dot
    (``.EXE`` -> ``exe``, ``tar.gz`` stays); ValueError says what is wrong."""
    value = entry.strip().lower()
    value = value[1:] if value.startswith(".") else value
    if not value or not _EXTENSION.match(value):
        raise ValueError(f"{entry!r} is not a file-name extension (e.g. exe or .tar.gz)")
    return value


def check_filetype_keys(group: _FileTypeKeys) -> None:
    """Raise ValueError naming the first bad file-type entry of a group."""
    for key in ("block_types", "allow_types", "block_extensions", "allow_extensions"):
        read = mime_type if key.endswith("_types") else extension
        for entry in getattr(group, key):
            try:
                read(entry)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
    for path in group.filetype_lists:
        if not path.strip():
            raise ValueError("filetype_lists: an empty path")
