"""The storage contract of the blacklist.

A store keeps *generations*: complete, immutable hash tables of entries. One
of them is active; loading writes a new one beside it and switches with one
atomic step, so a lookup sees the old or the new table, never a mix. The
stores: the mapped list image (:mod:`icapfilter.urls.image_store`, the
server's in-process store, one generation per file), the dict
(:class:`MemoryStore`) and Redis (:mod:`icapfilter.redisstore`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from icapfilter.urls.model import GenerationInfo, Ids, Progress


class GenerationWriter(Protocol):
    """A generation being built; invisible to lookups until :meth:`commit`."""

    generation: str

    def write(self, table: Mapping[int, Ids], progress: Progress | None = None) -> None:
        """Store the whole table (hash -> ids). The writer may keep the mapping."""

    def commit(self, info: GenerationInfo) -> None:
        """Make this generation active in one atomic step and drop the previous one."""

    def abort(self) -> None:
        """Best-effort removal of what was written; never raises."""


class ListStore(Protocol):
    """What the engine and loader need; the in-process store
    (:mod:`icapfilter.urls.memory_store`) and the Redis ones
    (:mod:`icapfilter.redisstore`) behave the same."""

    def lookup(self, hashes: Sequence[int]) -> tuple[str | None, list[tuple[int, ...]]]:
        """Ids for each hash in the active generation, read together with its id.

        One Redis round trip at most; ``(None, [(), ...])`` when nothing is loaded.
        """

    def current_generation(self) -> str | None:
        """The active generation id (a store may cache it for a short, documented time)."""

    def info(self, generation: str | None = None) -> GenerationInfo | None:
        """Metadata of a generation (default: the active one), or None if it is gone."""

    def new_generation(self) -> GenerationWriter:
        """Start writing a generation; may raise LoadError if another load runs."""


# The default implementation beside its contract (it needs nothing but the
# standard library); the Redis stores are reached through icapfilter.redisstore.
from icapfilter.urls.memory_store import MemoryStore  # noqa: E402

__all__ = ["GenerationWriter", "ListStore", "MemoryStore", "Progress"]
