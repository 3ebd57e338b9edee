"""Compiling list files into an image: parse, hash, sort, write.

Regex and blanket lines are no entries: they travel in the image's
generation info (as they do in a Redis generation's) and are matched
beside the hashed keys.

The entries are read exactly as :func:`icapfilter.urls.loader.build_table`
reads them (same parser, same keys, same host marks), but each becomes a hash
and a category id appended to typed arrays, partitioned by the hash's top
byte: 10 bytes an entry instead of the dict's ~130. The partitions are then
sorted one after the other (a few thousand entries each, so the Python
objects a sort needs exist for one partition at a time) and concatenated,
which orders the hashes and puts the ids of one hash side by side; the only
Python loop per entry is the reading itself.
"""

from __future__ import annotations

import os
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import accumulate, compress, islice, repeat
from operator import ne, not_, rshift
from pathlib import Path
from typing import Any

from icapfilter.urls.errors import LoadError
from icapfilter.urls.hashing import key_hash
from icapfilter.urls.image import bucket_bits_for, encode_image, id_width_for
from icapfilter.urls.listfiles import read_sources
from icapfilter.urls.model import Category, GenerationInfo, Progress, new_generation_id
from icapfilter.urls.normalize import HOST_MARK_ID, host_mark_of_entry
from icapfilter.urls.regexlists import CompiledRules
from icapfilter.urls.report import LoadReport

_ID_MASK = 0xFFFF  # ids are stored as uint16 while building
_PART_SHIFT = 56  # entries are partitioned by the top byte of their hash
_PARTS = 1 << (64 - _PART_SHIFT)
_READ_PROGRESS_EVERY = 50_000


class Packed:
    """The entries read, as raw hashes and ids partitioned by the hash's top byte:
    10 bytes an entry in typed arrays, no Python object per entry."""

    def __init__(self) -> None:
        self.hashes = [array("Q") for _ in range(_PARTS)]
        self.ids = [array("H") for _ in range(_PARTS)]

    def __len__(self) -> int:
        return sum(map(len, self.hashes))

    def add(self, h: int, cid: int) -> None:
        part = h >> _PART_SHIFT
        self.hashes[part].append(h)
        self.ids[part].append(cid)

    def sorted_parts(self) -> Iterator[tuple[array[int], array[int]]]:
        """Each partition sorted by hash (ids in the same order), emptied as it goes;
        partitions follow each other in hash order."""
        for part in range(_PARTS):
            hashes, ids = self.hashes[part], self.ids[part]
            order = sorted(range(len(hashes)), key=hashes.__getitem__)
            yield (array("Q", map(hashes.__getitem__, order)),
                   array("H", map(ids.__getitem__, order)))
            self.hashes[part] = array("Q")
            self.ids[part] = array("H")


def pack_entries(sources: Iterable[str | os.PathLike[str]], report: LoadReport,
                 progress: Progress | None = None, total: int | None = None,
                 ) -> tuple[Packed, dict[int, Category]]:
    """Every entry (and host mark) as (hash, category id), unsorted; raises LoadError."""
    packed = Packed()
    hashes, id_parts = packed.hashes, packed.ids
    marks: set[int] = set()
    ids: dict[tuple[str, bool], int] = {}
    get_id = ids.get
    counted = [0]  # entries per category id, added to the report at the end
    hash_of = key_hash
    n = 0
    for n, entry in enumerate(read_sources(sources, report), 1):
        cat = (entry.category, entry.exception)
        cid = get_id(cat)
        if cid is None:
            cid = ids[cat] = len(ids) + 1
            if cid > _ID_MASK:
                raise LoadError(f"more than {_ID_MASK} categories")
            counted.append(0)
        counted[cid] += 1
        key = entry.key
        h = hash_of(key)
        part = h >> _PART_SHIFT
        hashes[part].append(h)
        id_parts[part].append(cid)
        if key[0] == "u":
            mark = host_mark_of_entry(key)
            if mark is not None:
                m = hash_of(mark)
                if m not in marks:
                    marks.add(m)
                    packed.add(m, HOST_MARK_ID)
        if progress and n % _READ_PROGRESS_EVERY == 0:
            progress("read", n, total)
    if progress:
        progress("read", n, n)
    for (category, exception), cid in ids.items():
        _count(report, category, exception, counted[cid])
    report.host_marks = len(marks)
    return packed, {cid: Category(*cat) for cat, cid in ids.items()}


def _count(report: LoadReport, category: str, exception: bool, entries: int) -> None:
    """What ``entries`` calls of ``report.count`` would do, at once."""
    report.entries += entries
    report.counts[category] = report.counts.get(category, 0) + entries
    if exception:
        report.exceptions += entries
        report.exception_categories.add(category)


def compile_packed(packed: Packed) -> tuple[array[int], array[int], list[tuple[int, ...]]]:
    """Sorted keys, the combo index of each, and the combos; empties ``packed``."""
    hashes, cids = array("Q"), array("H")
    for part_hashes, part_ids in packed.sorted_parts():
        hashes.extend(part_hashes)
        cids.extend(part_ids)
    # first[i]: entry i starts a new key (the sort put equal hashes side by side)
    first = bytes([1]) + bytes(map(ne, islice(hashes, 1, None), hashes)) if hashes else b""
    keys = array("Q", compress(hashes, first))
    del hashes
    head_ids = list(compress(cids, first))
    combos: list[tuple[int, ...]] = [(c,) for c in sorted(set(head_ids))]
    merged: dict[int, set[int]] = {}
    # Only the few entries that repeat a key get a Python loop: the k-th such
    # entry, at position i, belongs to key i - k - 1.
    for k, i in enumerate(compress(range(len(first)), map(not_, first))):
        u = i - k - 1
        merged.setdefault(u, {head_ids[u]}).add(cids[i])
    sets = {u: tuple(sorted(v)) for u, v in merged.items()}
    extra = sorted(set(sets.values()) - set(combos))
    combos += extra
    slot = {c: n for n, c in enumerate(combos)}
    single = [0] * (max(head_ids, default=0) + 1)
    for c, n in slot.items():
        if len(c) == 1:
            single[c[0]] = n
    code = "BHI"[[1, 2, 4].index(id_width_for(len(combos)))]
    slots = array(code, map(single.__getitem__, head_ids))
    for u, v in sets.items():
        slots[u] = slot[v]
    return keys, slots, combos


def bucket_index(keys: array[int]) -> array[int]:
    """Offset of the first key of every bucket of the top bits, plus the end."""
    bits = bucket_bits_for(len(keys))
    counts = Counter(map(rshift, keys, repeat(64 - bits))) if bits else Counter({0: len(keys)})
    sizes = [0] * (1 << bits)
    for bucket, size in counts.items():
        sizes[bucket] = size
    index = array("I", [0])
    index.extend(accumulate(sizes))
    return index


def image_meta(info: GenerationInfo, report: LoadReport,
               combos: list[tuple[int, ...]], content: dict[str, Any]) -> dict[str, Any]:
    report_part = report.to_dict()
    report_part.update(host_marks=report.host_marks, warnings=report.warnings, problem_parts=[
        [p.source, p.line, p.message, p.severity] for p in report.problems])
    return {"info": info.to_json(), "report": report_part, "combos": combos, "content": content}


def build_image(sources: list[str], target: Path, content_key: bytes,
                content: dict[str, Any], *, strict: bool = False,
                progress: Progress | None = None, total: int | None = None) -> LoadReport:
    """Compile ``sources`` into ``target`` (written as is: the caller renames it into place).

    Raises LoadError (with ``.report``) for the reasons a load is refused.
    """
    started = time.monotonic()
    report = LoadReport(sources=list(sources))

    def fail(message: str) -> LoadError:
        report.failure = message
        report.duration = time.monotonic() - started
        return LoadError(message, report)

    try:
        packed, categories = pack_entries(report.sources, report, progress, total)
        CompiledRules(report.rules)  # a set RE2 cannot build must not go live
    except LoadError as exc:
        raise fail(str(exc)) from exc
    except ValueError as exc:
        raise fail(f"regular expressions: {exc}") from exc
    if strict and report.errors:
        raise fail(f"strict mode: {report.errors} bad line(s), nothing activated")
    if not packed and not report.rules:
        raise fail("no entries found in the given lists, nothing activated")
    if progress:
        progress("sort", len(packed), len(packed))
    keys, slots, combos = compile_packed(packed)
    del packed
    report.unique_keys = len(keys) - report.host_marks
    report.generation = new_generation_id()
    report.activated = True
    report.duration = time.monotonic() - started
    info = GenerationInfo(
        generation=report.generation, loaded_at=time.time(), duration=report.duration,
        entries=report.entries, exceptions=report.exceptions, errors=report.errors,
        counts=dict(sorted(report.counts.items())), sources=report.sources,
        categories=categories, rules=report.rules)
    parts = encode_image(content_key, keys.tobytes(), bucket_index(keys).tobytes(),
                         slots.tobytes(), slots.itemsize,
                         image_meta(info, report, combos, content))
    with open(target, "wb") as handle:
        # whatever the umask: others may map it (Squid's helpers), nobody else may
        # change what a running server has mapped
        os.fchmod(handle.fileno(), 0o644)
        handle.writelines(parts)
        handle.flush()
        os.fsync(handle.fileno())
    if progress:
        progress("write", len(keys), len(keys))
    return report
