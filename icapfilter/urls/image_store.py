"""The in-process store over a mapped list image, and opening the right image.

:func:`open_image_store` is what the server, ``icapfilter check`` and
``squid-helper`` call: it maps the image of the configured lists when it is
up to date, and otherwise builds it first (one process at a time, see
:mod:`.image_cache`). A reload calls it again: with unchanged lists it maps
the same file, with new lists it builds and maps the new one, and the old
map goes with the old policy; at no time is a list held as Python objects.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from icapfilter.urls.errors import LoadError
from icapfilter.urls.image import ImageError, ListImage, content_key_of, open_image
from icapfilter.urls.image_build import build_image
from icapfilter.urls.image_cache import (
    ContentKey,
    build_lock,
    cache_dir,
    candidate_dirs,
    image_name,
    remove_stale_temporaries,
    trusted_dir,
)
from icapfilter.urls.image_progress import ProgressLog
from icapfilter.urls.model import GenerationInfo, Progress
from icapfilter.urls.report import LoadReport, Problem
from icapfilter.urls.rules import Rule
from icapfilter.urls.store import GenerationWriter

log = logging.getLogger("icapfilter.lists")


class ImageStore:
    """A ListStore answering from one mapped image; it never changes after creation."""

    def __init__(self, image: ListImage) -> None:
        self.image = image
        self._info = GenerationInfo.from_json(image.meta["info"])
        self._generation = self._info.generation
        self.rules = self._info.rules

    def lookup(self, hashes: Sequence[int]) -> tuple[str | None, list[tuple[int, ...]]]:
        return self._generation, self.image.find(hashes)

    def current_generation(self) -> str | None:
        return self._generation

    def info(self, generation: str | None = None) -> GenerationInfo | None:
        if generation is not None and generation != self._generation:
            return None
        return self._info

    def new_generation(self) -> GenerationWriter:
        raise LoadError("an image store is built from list files (open_image_store)")


def report_of(image: ListImage, rules: list[Rule]) -> LoadReport:
    """The load report stored with the image (problems as their text)."""
    data = image.meta.get("report", {})
    report = LoadReport(
        sources=list(data.get("sources", [])), generation=data.get("generation"),
        activated=True, entries=data.get("entries", 0), exceptions=data.get("exceptions", 0),
        unique_keys=data.get("unique_keys", 0), host_marks=data.get("host_marks", 0),
        counts=dict(data.get("counts", {})),
        exception_categories=set(data.get("exception_categories", [])),
        errors=data.get("errors", 0), warnings=data.get("warnings", 0),
        duration=data.get("duration", 0.0))
    report.rules = list(rules)
    report.problems = [Problem(str(source), line if isinstance(line, int) else None, str(text),
                               "warning" if severity == "warning" else "error")
                       for source, line, text, severity in data.get("problem_parts", [])]
    return report


def _mapped(path: Path, key: bytes, say: bool = True) -> ListImage | None:
    """The image at ``path`` when it is intact and holds exactly these lists
    (``say``: log why not)."""
    if not path.exists():
        return None
    if content_key_of(path) != key:
        if say:
            log.info("lists: the list image %s is out of date (the lists changed); "
                     "rebuilding", path)
        return None
    try:
        return open_image(path)
    except (ImageError, OSError) as exc:
        if say:
            log.warning("lists: the list image %s is unusable (%s); rebuilding", path, exc)
        return None


def _previous_entries(path: Path) -> int | None:
    try:
        image = open_image(path)
    except (ImageError, OSError):
        return None
    entries = image.meta.get("report", {}).get("entries")
    image.close()
    return entries if isinstance(entries, int) else None


def _build(sources: list[str], path: Path, key: ContentKey, strict: bool,
           progress: Progress | None) -> LoadReport:
    folder, name = path.parent, path.name[:-len(".img")]
    remove_stale_temporaries(folder, name)
    temporary = folder / f"{name}.img.tmp{os.getpid()}"
    total = key.lines or _previous_entries(path)
    try:
        report = build_image(sources, temporary, key.key, key.summary(), strict=strict,
                             progress=progress, total=total)
        os.replace(temporary, path)  # the switch: later opens map the new file
    finally:
        if temporary.exists():
            temporary.unlink()
    return report


def open_image_store(sources: Sequence[str | os.PathLike[str]], *, configured_dir: str = "",
                     strict: bool = False, progress: Progress | None = None,
                     ) -> tuple[ImageStore, LoadReport, bool]:
    """(store, report, built now) for ``sources``; builds the image when needed.

    Raises LoadError when the lists cannot be loaded (nothing mapped then),
    :class:`~.image_cache.CacheUnavailable` when no folder can hold an image.
    """
    names = [str(s) for s in sources]
    key = ContentKey(names)
    name = image_name(names)
    image = _readable(names, configured_dir, name, key.key)
    if image is not None:  # built by another user (the server, for Squid's helpers)
        return _store(image, strict, built=False)
    folder = cache_dir(names, configured_dir)
    path = folder / f"{name}.img"
    built = False
    image = _mapped(path, key.key)
    if image is None:
        with build_lock(folder, name):
            image = _mapped(path, key.key, say=False)  # built by another process meanwhile?
            if image is None:
                started = time.monotonic()
                log.info("lists: building the list image %s from %d files (%.1f MB)",
                         path, key.files, key.bytes / 1e6)
                _build(names, path, key, strict, progress or ProgressLog(log))
                image = open_image(path)
                built = True
                log.info("lists: list image %s built in %.1fs (%.1f MB)", path,
                         time.monotonic() - started, image.layout.size / 1e6)
    return _store(image, strict, built)


def _readable(names: list[str], configured: str, name: str, key: bytes) -> ListImage | None:
    """An up-to-date image in a candidate folder this process cannot write in."""
    for folder in candidate_dirs(names, configured):
        path = folder / f"{name}.img"
        if os.access(folder, os.W_OK) or not trusted_dir(folder, any_owner=bool(configured)) \
                or not path.exists():
            continue
        image = _mapped(path, key, say=False)
        if image is not None:
            return image
    return None


def _store(image: ListImage, strict: bool, built: bool) -> tuple[ImageStore, LoadReport, bool]:
    store = ImageStore(image)
    report = report_of(image, store.rules)
    if strict and report.errors:
        raise LoadError(f"strict mode: {report.errors} bad line(s), nothing activated", report)
    return store, report, built
