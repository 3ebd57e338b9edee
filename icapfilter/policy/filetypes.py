"""File types a group may not download: by MIME type and by file-name extension.

As e2guardian's ``bannedmimetypelist`` / ``bannedextensionlist`` with their
exception lists: a request is judged by the file name in its URL path; a
response by its ``Content-Type`` (or, when that is missing or only
``application/octet-stream``, by the type its first bytes sniff as) and by
the file names of its ``Content-Disposition``. An exception list overrides
the banned list of its own kind only, so a server cannot slip ``setup.exe``
through by calling it ``text/html``. URL exceptions (an exception list, a
category the group allows) skip these checks like they skip phrase scanning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import xxhash

from ..config import GroupConfig
from ..config.filetypes import extension, mime_type
from ..content.sniff import needs_sniffing
from ..verdict import Verdict
from .filenames import disposition_names, url_file_names
from .filetype_lists import FileTypeEntries, FileTypeListError, load_filetype_lists
from .filetype_scan import TypeSniffScan
from .groups import Group
from .hook import RequestInfo, ResponseInfo, ResponseScan

#: The block page's reason and category-like label for every file-type block.
REASON = "file type not allowed"
CATEGORY = "filetype"

#: Types that name the same kind of file: a ban of one is a ban of all, so
#: the spelling a server chooses cannot carry an executable through.
_ALIASES: tuple[frozenset[str], ...] = tuple(frozenset(group) for group in (
    ("application/x-msdownload", "application/vnd.microsoft.portable-executable",
     "application/x-dosexec", "application/x-msdos-program", "application/x-ms-dos-executable",
     "application/exe", "application/x-exe"),
    ("application/zip", "application/x-zip-compressed", "application/x-zip"),
    ("application/gzip", "application/x-gzip"),
    ("application/x-rar-compressed", "application/vnd.rar", "application/x-rar"),
    ("application/x-msi", "application/x-ms-installer"),
))
_ALIAS_OF = {mime: group for group in _ALIASES for mime in group}
#: Characters of a file name the reason shows (its end: the extension).
_SHOWN_NAME = 80


def essence(content_type: str) -> str:
    """The lower-case ``type/subtype`` of a Content-Type value."""
    return content_type.split(";", 1)[0].strip().lower()


class _TypeSet:
    """MIME types with ``type/*`` and ``*/*`` entries."""

    __slots__ = ("exact", "families", "everything", "entries")

    def __init__(self, entries: Iterable[str]) -> None:
        entries = self.entries = frozenset(mime_type(e) for e in entries)
        self.everything = "*/*" in entries
        self.families = frozenset(e[:-2] for e in entries if e.endswith("/*"))
        self.exact = frozenset(e for e in entries if not e.endswith("/*"))

    def __bool__(self) -> bool:
        return bool(self.everything or self.families or self.exact)

    def match(self, mime: str) -> str | None:
        """The entry ``mime`` (or one of its aliases) matches, or None."""
        for name in _ALIAS_OF.get(mime, (mime,)):
            if name in self.exact:
                return name
        family = mime.partition("/")[0]
        if family in self.families:
            return f"{family}/*"
        return "*/*" if self.everything else None


def _suffixes(name: str, longest: int) -> list[str]:
    """Every extension of at most ``longest`` characters ``name`` ends with:
    ``a.tar.gz`` -> ``tar.gz``, ``gz``. Only the name's tail is looked at, so
    a name of 60,000 dots costs no more than ``setup.exe``."""
    tail = name[-(longest + 1):]
    return [tail[i + 1:] for i, char in enumerate(tail) if char == "."]


@dataclass(frozen=True, slots=True)
class FileTypeRules:
    """One group's banned and excepted types and extensions."""

    block_types: _TypeSet
    allow_types: _TypeSet
    block_extensions: frozenset[str]
    allow_extensions: frozenset[str]
    #: the longest extension of either list (only so much of a name is read)
    longest: int = 0

    @classmethod
    def of(cls, group: GroupConfig, listed: FileTypeEntries | None = None) -> FileTypeRules:
        listed = listed or FileTypeEntries()
        block = frozenset(extension(e) for e in [*group.block_extensions,
                                                 *listed.block_extensions])
        allow = frozenset(extension(e) for e in [*group.allow_extensions,
                                                 *listed.allow_extensions])
        return cls(_TypeSet([*group.block_types, *listed.block_types]),
                   _TypeSet([*group.allow_types, *listed.allow_types]), block, allow,
                   max(map(len, block | allow), default=0))

    def __bool__(self) -> bool:
        return bool(self.block_types or self.block_extensions)

    def describe(self) -> tuple[object, ...]:
        """The rules as sorted values (for the policy's generation)."""
        return tuple(sorted(s) for s in (
            self.block_types.entries, self.allow_types.entries,
            self.block_extensions, self.allow_extensions))

    def banned_type(self, mime: str) -> str | None:
        """The banned entry matching a type essence, unless an exception covers it."""
        hit = self.block_types.match(mime)
        if hit is None or self.allow_types.match(mime) is not None:
            return None
        return hit

    def banned_name(self, names: Iterable[str]) -> str | None:
        """The first name with a banned extension and no excepted one, as
        ``name (.ext)``."""
        if not self.block_extensions:
            return None
        for name in sorted(names):
            suffixes = _suffixes(name, self.longest)
            hit = next((s for s in suffixes if s in self.block_extensions), None)
            if hit is not None and not any(s in self.allow_extensions for s in suffixes):
                shown = name if len(name) <= _SHOWN_NAME else "..." + name[-_SHOWN_NAME:]
                return f"{shown} (.{hit})"
        return None


class FileTypes:
    """The file-type rules of every group that has some."""

    def __init__(self, rules: Mapping[str, FileTypeRules]) -> None:
        self.rules = {name: r for name, r in rules.items() if r}
        #: changes with the rules (a part of the policy's generation)
        self.tag = xxhash.xxh3_64_hexdigest(repr(sorted(
            (name, r.describe()) for name, r in self.rules.items())).encode())

    @classmethod
    def from_groups(cls, groups: Sequence[GroupConfig]) -> FileTypes | None:
        """None when no group bans a type; raises FileTypeListError naming the
        group and the list's file:line."""
        rules = {}
        for group in groups:
            try:
                rules[group.name] = FileTypeRules.of(group,
                                                     load_filetype_lists(group.filetype_lists))
            except FileTypeListError as exc:
                raise FileTypeListError(f'"{group.name}" filetype_lists: {exc}') from None
        built = cls(rules)
        return built if built.rules else None

    def request(self, group: Group, request: RequestInfo) -> Verdict | None:
        """A block for a URL whose path names a banned file, else None."""
        rules = self.rules.get(group.name)
        if rules is None or request.method.upper() == "CONNECT":
            return None
        hit = rules.banned_name(url_file_names(request.url))
        return None if hit is None else _block(group, hit)

    def response(self, group: Group, response: ResponseInfo,
                 decision: Verdict | ResponseScan) -> Verdict | ResponseScan:
        """``decision`` (what the rest of the policy said), unless the
        response's type or file name is banned; a body whose type must be
        sniffed is held until its first bytes tell."""
        rules = self.rules.get(group.name)
        if rules is None or (isinstance(decision, Verdict) and decision.blocked):
            return decision
        types = [essence(v) for v in response.headers.get_all("Content-Type")]
        for mime in types:
            if needs_sniffing(mime):
                continue  # no type given: the body's own bytes say it (below)
            hit = rules.banned_type(mime)
            if hit is not None:
                return _block(group, f"{mime} ({hit})" if hit != mime else mime)
        names: set[str] = set()
        for value in response.headers.get_all("Content-Disposition"):
            names |= disposition_names(value)
        hit = rules.banned_name(names)
        if hit is not None:
            return _block(group, hit)
        if rules.block_types and _body_possible(response) and (
                not types or needs_sniffing(types[0]) or types[0] == "application/octet-stream"):
            return TypeSniffScan(lambda mime: _sniffed(rules, group, mime), decision,
                                 response.content_encoding)
        return decision


def _body_possible(response: ResponseInfo) -> bool:
    return not (response.status in (204, 304) or 100 <= response.status < 200)


def _sniffed(rules: FileTypeRules, group: Group, mimes: Iterable[str]) -> Verdict | None:
    for mime in mimes:
        hit = rules.banned_type(mime)
        if hit is not None:
            return _block(group, f"body is {mime}")
    return None


def _block(group: Group, entry: str) -> Verdict:
    return Verdict.block(f"{REASON}: {entry}", CATEGORY, group=group.name, entry=entry)
