"""URL decisions: which list categories a request URL falls into.

The engine knows nothing about groups or policy; it reports every matching
category (block and exception alike) and lets the policy decide. Hashed
entries come from the store; a generation's regex and blanket rules come
with its metadata and are compiled here once per generation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from icapfilter.urls.errors import StoreUnavailable
from icapfilter.urls.hashing import key_hash
from icapfilter.urls.model import Category
from icapfilter.urls.normalize import (
    HOST_MARK_ID,
    candidates_for,
    entry_text,
    host_mark_for,
    parse_url,
)
from icapfilter.urls.regexlists import CompiledRules
from icapfilter.urls.store import ListStore


@dataclass(frozen=True, slots=True)
class UrlHit:
    """One matching list entry: ``entry`` is the normalized form that matched
    (a regex or blanket switch as written, then ``source`` is its ``file:line``)."""

    category: str
    entry: str
    exception: bool
    source: str | None = None


class _Tables:
    """What the engine keeps per generation: its category ids and its rules."""

    __slots__ = ("categories", "rules")

    def __init__(self, categories: dict[int, Category], rules: CompiledRules) -> None:
        self.categories = categories
        self.rules = rules


class _Lru:
    """A tiny thread-safe LRU of decisions keyed by (generation, key).

    Decisions are small and immutable (tuples of hits). Only the ``keep`` latest
    generations are held: when a newer one is put, the entries of the oldest are
    dropped at once. They could never be hit again (every lookup asks for the
    current generation), and left to age out they filled the cache to its cap
    after enough list reloads, a few hundred bytes per entry, as a slow climb of
    RSS. Two are kept because threads may still see the previous generation for
    up to ``pointer_ttl`` after a switch. Each generation id is stored once and
    shared by its keys (the store returns a new string per lookup).
    """

    def __init__(self, size: int, keep: int = 2) -> None:
        self.size = size
        self.keep = keep
        self._data: OrderedDict[tuple[str, str], tuple[UrlHit, ...]] = OrderedDict()
        self._generations: list[str] = []  # oldest first, at most ``keep``
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: tuple[str, str]) -> tuple[UrlHit, ...] | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: tuple[str, str], value: tuple[UrlHit, ...]) -> None:
        generation = key[0]
        with self._lock:
            for known in self._generations:
                if known == generation:
                    key = (known, key[1])
                    break
            else:
                self._generations.append(generation)
                if len(self._generations) > self.keep:
                    stale = set(self._generations[:-self.keep])
                    del self._generations[:-self.keep]
                    for old in [k for k in self._data if k[0] in stale]:
                        del self._data[old]
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._generations.clear()


class UrlEngine:
    """Looks URLs up in a :class:`ListStore`, with a small decision cache.

    The cache is keyed by (generation, normalized URL), so a reload makes every
    cached decision unreachable at once (for RedisStore: as soon as the store's
    cached generation pointer refreshes, ``pointer_ttl``, 1 s by default).
    ``cache_size=0`` disables it.
    """

    def __init__(self, store: ListStore, cache_size: int = 10_000) -> None:
        self.store = store
        self._cache = _Lru(cache_size) if cache_size > 0 else None
        self._categories: dict[str, _Tables] = {}
        self._categories_lock = threading.Lock()
        # Plain counters for statistics (approximate under threads, never locked).
        self.cache_hits = 0
        self.store_lookups = 0

    @property
    def generation(self) -> str | None:
        """Active generation id (use it in the ICAP ISTag); None when no list is loaded."""
        return self.store.current_generation()

    def lookup(self, url: str) -> list[UrlHit]:
        """Every category ``url`` is listed in, most specific entry first.

        Raises :class:`~icapfilter.urls.errors.InvalidUrl` for URLs that cannot
        be parsed and :class:`StoreUnavailable` when the store is down.
        """
        parsed = parse_url(url)
        host_key = ("tunnel:" if parsed.tunnel else "host:") + parsed.host
        if self._cache is not None:
            generation = self.store.current_generation()
            if generation is not None:
                cached = self._cache.get((generation, host_key))
                if cached is None:
                    cached = self._cache.get((generation, parsed.key))
                if cached is not None:
                    self.cache_hits += 1
                    return list(cached)
        self.store_lookups += 1
        keys = candidates_for(parsed)
        # The host mark rides along in the same round trip: when no URL entry
        # exists under this host, the decision holds for every path on it.
        hashes = [key_hash(k) for k in keys] + [key_hash(host_mark_for(parsed))]
        for _attempt in range(3):
            generation, found = self.store.lookup(hashes)
            if generation is None:
                return []
            tables = self._tables_of(generation)
            if tables is None:
                continue  # that generation was replaced between the two reads
            categories = tables.categories
            hits = tuple(
                UrlHit(cat.name, entry_text(key), cat.exception)
                for key, ids in zip(keys, found, strict=False)
                for cat in sorted(categories[c] for c in ids if c in categories)
            )
            if not tables.rules.empty:
                hits += tuple(UrlHit(r.category, r.text, r.exception, r.where)
                              for r in tables.rules.match(parsed))
            if self._cache is not None:
                per_url = HOST_MARK_ID in found[-1] or tables.rules.per_url
                self._cache.put((generation, parsed.key if per_url else host_key), hits)
            return list(hits)
        raise StoreUnavailable("list generation changed repeatedly during one lookup")

    def _tables_of(self, generation: str) -> _Tables | None:
        """Category table and compiled rules of a generation; immutable, so
        cached for the two latest. Rules RE2 cannot compile (a generation
        written by another version) make the lists unavailable: ``on_error``
        decides, rather than silently matching without them."""
        tables = self._categories.get(generation)
        if tables is not None:
            return tables
        info = self.store.info(generation)
        if info is None:
            return None
        with self._categories_lock:
            tables = self._categories.get(generation)
            if tables is not None:
                return tables
            try:
                rules = CompiledRules(info.rules)
            except ValueError as exc:
                raise StoreUnavailable(f"list generation {generation}: {exc}") from None
            if len(self._categories) >= 2:
                for old in list(self._categories)[:-1]:
                    del self._categories[old]
            tables = self._categories[generation] = _Tables(info.categories, rules)
        return tables

    def clear_cache(self) -> None:
        if self._cache is not None:
            self._cache.clear()
