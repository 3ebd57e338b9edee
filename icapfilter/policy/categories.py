"""The category names a group may block or allow, checked against the lists.

A name in ``block`` or ``allow`` that no loaded list defines matches nothing:
a typo (``gamblig``) would silently block nothing. So every name must be a
category of the loaded URL lists, one of UT1's aliases (a symbolic link to a
category folder, e.g. ``porn`` -> ``adult``, whose entries are loaded under
the folder it points to), or ``*``. Phrase list categories are refused too,
with their own explanation: a page is blocked by its phrase score against the
group's ``naughtiness_limit``, never through ``block``.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import tarfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..config import GroupConfig
from ..timerules import parse_schedule

#: The category of a phrase block without ``#listcategory`` (verdict_of_scan).
PHRASES = "phrases"
_ARCHIVES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_MAX_LINK_HOPS = 8


@dataclass(frozen=True)
class KnownCategories:
    """What the loaded lists define: URL list categories, their aliases
    (alias -> category) and the phrase lists' categories."""

    lists: frozenset[str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    phrases: frozenset[str] = frozenset()
    #: False when the list sources are not on this machine (a Redis store
    #: loaded elsewhere): an alias cannot be told from a typo, so unknown
    #: names are warnings only.
    complete: bool = True

    def defines(self, name: str) -> bool:
        return name == "*" or name in self.lists or self.aliases.get(name) in self.lists


def category_aliases(sources: Iterable[str]) -> dict[str, str]:
    """Alias -> category for the symbolically linked category folders of the
    list sources (folders and tar archives; a plain file has none)."""
    aliases: dict[str, str] = {}
    for source in sources:
        path = Path(source)
        if path.is_dir():
            aliases.update(_folder_aliases(path))
        elif path.name.lower().endswith(_ARCHIVES) and path.is_file():
            st = path.stat()
            aliases.update(_archive_aliases(str(path.resolve()), st.st_size, st.st_mtime_ns))
    return aliases


def _folder_aliases(root: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for dirpath, dirnames, _files in os.walk(root):  # links are listed, not followed
        for name in dirnames:
            link = Path(dirpath, name)
            if link.is_symlink() and link.is_dir():
                target = link.resolve().name
                if target and target != name:
                    found[name] = target
    return found


@lru_cache(maxsize=8)
def _archive_aliases(path: str, _size: int, _mtime_ns: int) -> dict[str, str]:
    """The same for a tar archive (UT1's blacklists.tar.gz keeps its links):
    a link member whose target, followed through other links, is a folder
    holding list files. Reading it means decompressing the whole archive,
    so the answer is kept per file version: a reload of unchanged lists
    (served from the compiled list image) does not pay for it again."""
    links: dict[str, str] = {}
    folders: set[str] = set()
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                name = posixpath.normpath(member.name)
                if member.issym():
                    target = posixpath.join(posixpath.dirname(name), member.linkname)
                    links[name] = posixpath.normpath(target)
                elif member.isfile():
                    folders.add(posixpath.dirname(name))
    except (tarfile.TarError, EOFError, zlib.error, OSError):
        return {}  # the list load itself reports the archive
    found: dict[str, str] = {}
    for link, target in links.items():
        for _ in range(_MAX_LINK_HOPS):
            if target not in links:
                break
            target = links[target]
        alias, category = posixpath.basename(link), posixpath.basename(target)
        if target in folders and category and category != alias:
            found[alias] = category
    return found


def phrase_categories(phrase_sets: Iterable[object]) -> frozenset[str]:
    """The ``#listcategory`` names of phrase sets (PhraseSet values)."""
    names: set[str] = {PHRASES}
    for phrase_set in phrase_sets:
        for entry in (*getattr(phrase_set, "singles", ()), *getattr(phrase_set, "combinations",
                                                                     ())):
            if entry.category:
                names.add(entry.category)
    return frozenset(names)


def category_problems(groups: Sequence[GroupConfig], known: KnownCategories) -> list[str]:
    """One line per name of a group's ``block`` or ``allow`` (and of its
    schedule rules) the lists do not define."""
    problems = []
    for group in groups:
        named: list[tuple[str, Iterable[str]]] = [("block", group.block), ("allow", group.allow)]
        for number, rule in enumerate(parse_schedule(group.schedule), 1):  # schedules
            named += [(f"schedule #{number} {key}", sorted(getattr(rule, key)))
                      for key in ("block", "unblock", "allow")]
        for key, names in named:
            for name in names:
                if not known.defines(name):
                    problems.append(f'[[groups]] "{group.name}" {key}: {explain(name, known)}')
    return problems


def explain(name: str, known: KnownCategories) -> str:
    """Why ``name`` is refused, with the closest defined names as a hint."""
    if name in known.phrases:
        return (f"{name!r} is a phrase list category, not a URL list category: a page is "
                "blocked by its phrase score against naughtiness_limit (scan = false "
                "turns scanning off), never through block or allow")
    candidates = sorted(known.lists | set(known.aliases))
    by_case = [c for c in candidates if c.lower() == name.lower()]
    close = by_case or difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if close:
        return f"unknown category {name!r} (did you mean {' or '.join(map(repr, close))}?)"
    shown = ", ".join(candidates[:12]) + (", ..." if len(candidates) > 12 else "")
    return (f"unknown category {name!r}: no loaded list defines it "
            f"(the lists define {len(candidates)}: {shown})")
