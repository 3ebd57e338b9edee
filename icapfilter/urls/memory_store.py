"""The dict store: a generation as a Python dict in this process.

The server's in-process store is the mapped list image
(:mod:`icapfilter.urls.image_store`); this one remains for ``[lists] image =
false``, for a server that finds no folder to keep an image in, and for
``icapfilter check --lists`` and tests, which load small lists once.

A generation is a plain ``dict[int, Ids]`` keyed by the 64-bit hash: about
130 bytes an entry in CPython (237 MB per worker for 1.8 million entries,
docs/benchmarks.md); the strings of the entries are never kept. Switching
generations is one reference assignment, which is atomic under the GIL, and a
lookup reads the reference once, so it sees one table for its whole duration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from icapfilter.urls.model import GenerationInfo, Ids, Progress, ids_tuple, new_generation_id


@dataclass(frozen=True, slots=True)
class _Generation:
    generation: str
    table: Mapping[int, Ids]
    info: GenerationInfo


class MemoryStore:
    """A ListStore living in this process; the old generation is dropped at the switch."""

    def __init__(self) -> None:
        self._active: _Generation | None = None
        self._commit_lock = threading.Lock()

    def lookup(self, hashes: Sequence[int]) -> tuple[str | None, list[tuple[int, ...]]]:
        active = self._active
        if active is None:
            return None, [() for _ in hashes]
        get = active.table.get
        return active.generation, [ids_tuple(get(h)) for h in hashes]

    def current_generation(self) -> str | None:
        active = self._active
        return active.generation if active else None

    def info(self, generation: str | None = None) -> GenerationInfo | None:
        active = self._active
        if active is None or (generation is not None and generation != active.generation):
            return None
        return active.info

    def new_generation(self) -> _MemoryWriter:
        return _MemoryWriter(self)

    def _activate(self, generation: _Generation) -> None:
        with self._commit_lock:
            self._active = generation


class _MemoryWriter:
    def __init__(self, store: MemoryStore) -> None:
        self.generation = new_generation_id()
        self._store = store
        self._table: Mapping[int, Ids] | None = None

    def write(self, table: Mapping[int, Ids], progress: Progress | None = None) -> None:
        self._table = table
        if progress:
            progress("write", len(table), len(table))

    def commit(self, info: GenerationInfo) -> None:
        if self._table is None:
            raise RuntimeError("commit() before write()")
        info.loaded_at = info.loaded_at or time.time()
        self._store._activate(_Generation(self.generation, self._table, info))
        self._table = None

    def abort(self) -> None:
        self._table = None
