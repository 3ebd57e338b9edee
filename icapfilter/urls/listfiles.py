"""Readers for the blacklist formats in the wild.

Supported, with the category taken from the folder, ``#listcategory:`` or the
file name:

* Shallalist / UT1: ``<category>/domains``, ``<category>/urls``,
  ``<category>/expressions`` (regular expressions), as a folder or a tar archive.
* squidGuard ``domainlist`` / ``urllist`` / ``expressionlist`` files.
* DansGuardian / e2guardian ``bannedsitelist``, ``bannedurllist``,
  ``exceptionsitelist``, ``exceptionurllist``, ``bannedregexpurllist``,
  ``exceptionregexpurllist`` with ``.Include<file>``, ``#listcategory: "Name"``
  and the blanket switches (``**``, ``*ip``, ...).

Regular expressions and blanket switches are not entries: they go to the
report's ``rules`` (:class:`~icapfilter.urls.rules.Rule`), to be matched
beside the hash table, never hashed.

A bad line is reported as ``file:line: message`` and skipped. A missing or
unreadable *source* (the paths given to the load) raises :class:`LoadError`,
because silently serving half a list is worse than keeping the old one.
"""

from __future__ import annotations

import os
import re
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Literal

from icapfilter.listio import read_list_file
from icapfilter.urls.errors import InvalidEntry, LoadError
from icapfilter.urls.normalize import normalize_entry
from icapfilter.urls.regexlists import pattern_error
from icapfilter.urls.report import LoadReport
from icapfilter.urls.rules import BLANKET_SWITCHES, NOT_SWITCHES, Rule

MAX_LINE_BYTES = 2048
MAX_INCLUDE_DEPTH = 16
MAX_FILE_BYTES = 1 << 30
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

_DG_NAME = re.compile(r"^(banned|exception)(site|url|regexpurl)list", re.IGNORECASE)
_INCLUDE = re.compile(r"^\.include<(.*)>$", re.IGNORECASE)
_LISTCATEGORY = re.compile(rb"^#\s*listcategory\s*:\s*(.*)$", re.IGNORECASE)
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One accepted line: its normalized key and where it belongs."""

    key: str
    category: str
    exception: bool


#: What a file's lines are: host entries, URL entries, either, or regexes.
LineKind = Literal["domain", "url", "auto", "regex"]


@dataclass(frozen=True, slots=True)
class FileSpec:
    """How to read one file: the kind of its lines and where its category comes from."""

    kind: LineKind
    exception: bool
    category_from: Literal["dir", "file"]


@dataclass(frozen=True, slots=True)
class _Context:
    source: str
    kind: LineKind
    exception: bool
    category: str
    base_dir: Path | None
    stack: tuple[str, ...] = ()
    #: an e2guardian list (its blanket switches count at its top level)
    e2g: bool = False


def classify(name: str) -> FileSpec | None:
    """Recognize a list file by its base name; None for files to ignore inside trees."""
    lower = name.lower()
    if lower in ("domains", "domainlist"):
        return FileSpec("domain", False, "dir")
    if lower in ("urls", "urllist"):
        return FileSpec("url", False, "dir")
    if lower in ("expressions", "expressionlist"):
        return FileSpec("regex", False, "dir")
    match = _DG_NAME.match(lower)
    if match:
        kinds: dict[str, LineKind] = {"site": "domain", "url": "url", "regexpurl": "regex"}
        return FileSpec(kinds[match.group(2)], match.group(1) == "exception", "file")
    return None


def _explicit_spec(path: Path) -> FileSpec:
    """A file named on the command line: known names as usual, else guess by suffix."""
    spec = classify(path.name)
    if spec:
        return spec
    suffix = path.suffix.lower()
    if suffix in (".domains", ".domainlist"):
        return FileSpec("domain", False, "file")
    if suffix in (".urls", ".urllist"):
        return FileSpec("url", False, "file")
    return FileSpec("auto", False, "file")


def _category_for(spec: FileSpec, name: str, parent: str) -> str:
    if spec.category_from == "dir" and parent:
        return parent
    stem = name.split(".", 1)[0] if not name.startswith(".") else name
    return stem or name


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def read_sources(
    sources: Iterable[str | os.PathLike[str]], report: LoadReport
) -> Iterator[ListEntry]:
    """Yield entries of every source (folder, archive or file); problems go to ``report``."""
    for source in sources:
        path = Path(source)
        if not path.exists():
            raise LoadError(f"{path}: no such file or directory")
        if path.is_dir():
            yield from _read_tree(path, report)
        elif is_archive(path):
            yield from _read_archive(path, report)
        else:
            spec = _explicit_spec(path)
            yield from _read_file(
                path, spec, _category_for(spec, path.name, path.parent.name), report
            )


def _read_tree(root: Path, report: LoadReport) -> Iterator[ListEntry]:
    found = False
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
        dirnames.sort()
        for name in sorted(filenames):
            spec = classify(name)
            if spec is None:
                continue
            found = True
            path = Path(dirpath, name)
            yield from _read_file(path, spec, _category_for(spec, name, path.parent.name), report)
    if not found:
        raise LoadError(f"{root}: no list files found (domains, urls, expressions, "
                        f"*sitelist, *urllist)")


def _raise(exc: OSError) -> None:
    raise LoadError(f"{exc.filename}: {exc.strerror or exc}")


def _read_file(
    path: Path, spec: FileSpec, category: str, report: LoadReport
) -> Iterator[ListEntry]:
    try:
        data = read_list_file(path)
    except OSError as exc:
        raise LoadError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    ctx = _Context(
        str(path), spec.kind, spec.exception, category, path.parent, (str(path.resolve()),),
        spec.category_from == "file",
    )
    yield from parse_lines(data, ctx, report)


def _read_archive(path: Path, report: LoadReport) -> Iterator[ListEntry]:
    """Stream list files out of a tar archive; nothing is extracted to disk."""
    found = False
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if not member.isfile():
                    continue  # links, devices and folders are never followed
                member_path = PurePosixPath(member.name)
                spec = classify(member_path.name)
                if spec is None:
                    continue
                found = True
                where = f"{path}!{member.name}"
                if member.size > MAX_FILE_BYTES:
                    report.problem(where, None, "file too large, ignored")
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                data = handle.read()
                category = _category_for(spec, member_path.name, member_path.parent.name)
                ctx = _Context(where, spec.kind, spec.exception, category, None, (),
                               spec.category_from == "file")
                yield from parse_lines(data, ctx, report)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise LoadError(f"{path}: cannot read archive: {exc}") from exc
    if not found:
        raise LoadError(f"{path}: no list files found in archive")


def parse_lines(data: bytes, ctx: _Context, report: LoadReport) -> Iterator[ListEntry]:
    """Parse one file's bytes; handles comments, CRLF, BOM, directives and bad lines."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    category = ctx.category
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.strip()
        if not raw:
            continue
        if raw[0] == 0x23:  # '#'
            match = _LISTCATEGORY.match(raw)
            if match:
                name = match.group(1).decode("utf-8", "replace").strip().strip("\"'").strip()
                if name:
                    category = name
            elif raw[:7].lower() == b"#time: ":  # schedules: e2guardian limits the whole list
                report.problem(ctx.source, lineno, "#time: is not honoured in URL lists: the "
                               "entries apply at all times; use a [[groups.schedule]] rule",
                               "warning")
            continue
        if len(raw) > MAX_LINE_BYTES:
            report.problem(ctx.source, lineno, f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            report.problem(ctx.source, lineno, "invalid UTF-8")
            continue
        if text[0] == ".":
            include = _INCLUDE.match(text)
            if include:
                yield from _include(
                    include.group(1), lineno, replace(ctx, category=category), report
                )
                continue
        for marker in (" #", "\t#"):
            if marker in text:
                text = text[: text.index(marker)].rstrip()
        if text in BLANKET_SWITCHES or text in NOT_SWITCHES:
            rule = _blanket(text, lineno, replace(ctx, category=category), report)
            if rule is not None:
                report.rule(rule)
            continue
        if ctx.kind == "regex":
            error = pattern_error(text)
            if error is not None:
                report.problem(ctx.source, lineno, f"{error}: {text[:80]!r}")
                continue
            if not ctx.e2g and ("\\<" in text or "\\>" in text):
                report.problem(ctx.source, lineno, "\\< and \\> are the characters < and > "
                               "in RE2 (squidGuard's GNU regex reads them as word "
                               "boundaries): write \\b", "warning")
            report.rule(Rule("regex", text, category, ctx.exception, f"{ctx.source}:{lineno}"))
            continue
        try:
            key = normalize_entry(text, ctx.kind)
        except InvalidEntry as exc:
            report.problem(ctx.source, lineno, f"{exc}: {text[:80]!r}")
            continue
        if key[0] == "d" and "." not in key and ":" not in key[2:] and not ctx.exception:
            report.problem(ctx.source, lineno, f"{key[2:]!r} blocks a whole TLD", "warning")
        yield ListEntry(key, category, ctx.exception)


def _blanket(text: str, lineno: int, ctx: _Context, report: LoadReport) -> Rule | None:
    """An e2guardian blanket switch as a rule, or why it is ignored (a warning)."""
    why = None
    if text in NOT_SWITCHES:
        why = "not an e2guardian blanket switch (**, **s, *ip, *ips, **ips)"
    elif not ctx.e2g:
        why = "blanket switches only work in e2guardian lists (*sitelist, *urllist)"
    elif len(ctx.stack) > 1:
        why = "e2guardian ignores blanket switches in included files"
    if why is not None:
        report.problem(ctx.source, lineno, f"{text!r} ignored: {why}", "warning")
        return None
    return Rule("blanket", text, ctx.category, ctx.exception, f"{ctx.source}:{lineno}")


def _include(
    target: str, lineno: int, ctx: _Context, report: LoadReport
) -> Iterator[ListEntry]:
    """Follow ``.Include<file>`` relative to the including file's folder."""
    if ctx.base_dir is None:
        report.problem(ctx.source, lineno, ".Include is not supported inside archives")
        return
    target = target.strip().replace("__LISTDIR__", str(ctx.base_dir))
    if "\0" in target:  # Path.resolve() would raise ValueError and fail the whole load
        report.problem(ctx.source, lineno, "malformed .Include (NUL byte in the path)")
        return
    path = Path(target)
    if not path.is_absolute():
        path = ctx.base_dir / path
    resolved = str(path.resolve())
    if resolved in ctx.stack:
        report.problem(ctx.source, lineno, f"include cycle: {path}")
        return
    if len(ctx.stack) >= MAX_INCLUDE_DEPTH:
        report.problem(ctx.source, lineno, f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
        return
    try:
        data = read_list_file(path)
    except OSError as exc:
        report.problem(ctx.source, lineno, f"cannot include {path}: {exc.strerror or exc}")
        return
    spec = classify(path.name)
    category = ctx.category
    if spec is not None and spec.category_from == "dir" and path.parent.name:
        category = path.parent.name  # e.g. .Include<../blacklists/porn/domains>
    child = _Context(
        str(path), ctx.kind, ctx.exception, category, path.parent, (*ctx.stack, resolved),
        ctx.e2g,
    )
    yield from parse_lines(data, child, report)
