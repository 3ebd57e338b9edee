"""Value types shared by the stores, the loader and the engine."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from icapfilter.urls.rules import Rule

#: ``progress(stage, done, total)``: called by long steps; total may be None.
Progress = Callable[[str, int, "int | None"], None]

#: Category ids of one entry: one int, or a tuple when it is in several categories.
#: Ints below 257 are shared objects in CPython, so the common case costs no allocation.
Ids = int | tuple[int, ...]


class Category(NamedTuple):
    """A category as stored: the same name may exist once as block and once as exception."""

    name: str
    exception: bool


@dataclass
class GenerationInfo:
    """Metadata stored beside a generation so any server can describe what it serves."""

    generation: str
    loaded_at: float
    duration: float = 0.0
    entries: int = 0
    exceptions: int = 0
    errors: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    categories: dict[int, Category] = field(default_factory=dict)
    #: regex and blanket lines: matched beside the hash table, not in it
    rules: list[Rule] = field(default_factory=list)

    def to_json(self) -> str:
        data = {
            "generation": self.generation,
            "loaded_at": self.loaded_at,
            "duration": self.duration,
            "entries": self.entries,
            "exceptions": self.exceptions,
            "errors": self.errors,
            "counts": self.counts,
            "sources": self.sources,
            "categories": [[i, c.name, c.exception] for i, c in sorted(self.categories.items())],
            "rules": [rule.to_list() for rule in self.rules],
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> GenerationInfo:
        data = json.loads(text)
        cats = {int(i): Category(name, bool(exc)) for i, name, exc in data.pop("categories", [])}
        rules = [Rule.from_list(r) for r in data.pop("rules", [])]
        return cls(categories=cats, rules=rules, **data)


def merge_ids(existing: Ids | None, cid: int) -> Ids:
    """Add a category id to an entry's ids, keeping the tuple sorted and unique."""
    if existing is None:
        return cid
    if isinstance(existing, int):
        return existing if existing == cid else tuple(sorted((existing, cid)))
    return existing if cid in existing else tuple(sorted((*existing, cid)))


def ids_tuple(ids: Ids | None) -> tuple[int, ...]:
    if ids is None:
        return ()
    return (ids,) if isinstance(ids, int) else ids


def encode_ids(ids: Ids) -> bytes:
    """Redis value form: ``3`` or ``3,17`` (small integers stay compact in a listpack)."""
    if isinstance(ids, int):
        return str(ids).encode()
    return ",".join(map(str, ids)).encode()


def decode_ids(raw: bytes | str | None) -> tuple[int, ...]:
    if raw is None:
        return ()
    if isinstance(raw, bytes):
        raw = raw.decode()
    return tuple(int(x) for x in raw.split(","))


def new_generation_id() -> str:
    """Sortable, unique and short: it ends up in the ICAP ISTag (max 32 chars)."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)
