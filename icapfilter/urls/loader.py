"""Loading lists into a store as a new generation, switched atomically.

Everything is parsed and hashed in memory first, so a bad source never
touches the store; only then is the generation written and activated. Any
failure before the switch leaves the previous generation serving.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from icapfilter.urls.errors import LoadError, StoreUnavailable
from icapfilter.urls.hashing import key_hash
from icapfilter.urls.listfiles import read_sources
from icapfilter.urls.model import Category, GenerationInfo, Ids, Progress, merge_ids
from icapfilter.urls.normalize import HOST_MARK_ID, host_mark_of_entry
from icapfilter.urls.regexlists import CompiledRules
from icapfilter.urls.report import LoadReport
from icapfilter.urls.store import ListStore

_READ_PROGRESS_EVERY = 50_000


def build_table(
    sources: Iterable[str | os.PathLike[str]],
    report: LoadReport,
    progress: Progress | None = None,
) -> tuple[dict[int, Ids], dict[int, Category]]:
    """Parse every source into (hash -> category ids, id -> category); raises LoadError.

    Regex and blanket lines go to ``report.rules``: they are matched beside
    the table, never hashed into it.
    """
    table: dict[int, Ids] = {}
    marks: set[int] = set()
    ids: dict[tuple[str, bool], int] = {}
    get = table.get
    for n, entry in enumerate(read_sources(sources, report), 1):
        cid = ids.get((entry.category, entry.exception))
        if cid is None:
            cid = ids[(entry.category, entry.exception)] = len(ids) + 1
        h = key_hash(entry.key)
        old = get(h)
        table[h] = cid if old is None else merge_ids(old, cid)
        mark = host_mark_of_entry(entry.key) if entry.key[0] == "u" else None
        if mark is not None:
            m = key_hash(mark)
            if m not in marks:
                marks.add(m)
                table[m] = merge_ids(get(m), HOST_MARK_ID)
        report.count(entry.category, entry.exception)
        if progress and n % _READ_PROGRESS_EVERY == 0:
            progress("read", n, None)
    report.host_marks = len(marks)
    return table, {cid: Category(*cat) for cat, cid in ids.items()}


def load_lists(
    store: ListStore,
    sources: Iterable[str | os.PathLike[str]],
    *,
    strict: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Load ``sources`` as a new generation and make it active.

    Returns the report on success. Raises :class:`LoadError` (with
    ``.report``) when nothing was activated: a missing or unreadable source,
    no entries at all, bad lines under ``strict``, or the store failing
    mid-load. The previously active generation keeps serving in every case.
    """
    started = time.monotonic()
    report = LoadReport(sources=[str(s) for s in sources])

    def fail(message: str, cause: BaseException | None = None) -> LoadError:
        report.failure = message
        report.duration = time.monotonic() - started
        err = LoadError(message, report)
        err.__cause__ = cause
        return err

    try:
        table, categories = build_table(report.sources, report, progress)
        CompiledRules(report.rules)  # a set RE2 cannot build must not go live
    except LoadError as exc:
        raise fail(str(exc), exc) from exc
    except ValueError as exc:
        raise fail(f"regular expressions: {exc}", exc) from exc
    report.unique_keys = len(table) - report.host_marks
    if strict and report.errors:
        raise fail(f"strict mode: {report.errors} bad line(s), nothing activated")
    if not table and not report.rules:
        raise fail("no entries found in the given lists, nothing activated")

    try:
        writer = store.new_generation()
    except StoreUnavailable as exc:
        raise fail(f"store unavailable: {exc}", exc) from exc
    report.generation = writer.generation
    try:
        writer.write(table, progress)
        del table
        info = GenerationInfo(
            generation=writer.generation,
            loaded_at=time.time(),
            duration=time.monotonic() - started,
            entries=report.entries,
            exceptions=report.exceptions,
            errors=report.errors,
            counts=dict(sorted(report.counts.items())),
            sources=report.sources,
            categories=categories,
            rules=report.rules,
        )
        writer.commit(info)
    except StoreUnavailable as exc:
        writer.abort()
        raise fail(f"store unavailable during load: {exc}", exc) from exc
    except BaseException:
        writer.abort()
        raise
    report.activated = True
    report.duration = time.monotonic() - started
    return report
