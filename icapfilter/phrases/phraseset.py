"""A loaded, immutable set of phrase lists and its multi-pattern matcher.

Built once per (re)load and then shared by every worker thread: nothing in it
is mutated after `__init__`, and both matcher engines allow any number of
concurrent searches on a finished automaton (each scan has its own stream).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .matcher import Matcher, build_matcher
from .model import Combination, ListKind, LoadError, Phrase, Weight
from .parser import ListParser, RawEntry

if TYPE_CHECKING:
    from .scan import BodyScan

#: Where Debian's e2guardian package installs its lists; stock lists include
#: each other by this absolute path.
E2G_LIST_DIR = "/etc/e2guardian/lists"


def _kind(entry: RawEntry, exception_file: bool) -> ListKind:
    # e2guardian decides by the entry, not the file: a weight makes an entry
    # weighted wherever it is; otherwise the file says banned or exception.
    if entry.weight is not None:
        return ListKind.WEIGHTED
    return ListKind.EXCEPTION if exception_file else ListKind.BANNED


def _replaces(new_kind: ListKind, new_w: Weight, old_kind: ListKind, old_w: Weight) -> bool:
    """e2guardian's duplicate rule (ListContainer::graphAdd)."""
    if new_kind is ListKind.EXCEPTION:
        return old_kind is not ListKind.EXCEPTION
    if old_kind is ListKind.WEIGHTED:
        if new_kind is ListKind.BANNED:
            return True
        # weights of either style are compared by their number; a percentage
        # and an absolute weight are rarely given for the same phrase
        return new_kind is ListKind.WEIGHTED and new_w.value > old_w.value
    return False


class PhraseSet:
    """Banned, weighted and exception phrases and combinations, ready to scan."""

    def __init__(
        self,
        singles: Iterable[Phrase],
        combinations: Iterable[Combination],
        *,
        duplicates: int = 0,
        files: Sequence[str] = (),
        engine: str = "auto",
    ) -> None:
        self.singles: tuple[Phrase, ...] = tuple(singles)
        self.combinations: tuple[Combination, ...] = tuple(combinations)
        self.duplicates = duplicates
        self.files = tuple(files)

        pattern_ids: dict[str, int] = {}

        def pid(text: str) -> int:
            return pattern_ids.setdefault(text, len(pattern_ids))

        single_of: dict[int, Phrase] = {pid(p.text): p for p in self.singles}
        self.combo_parts: tuple[tuple[int, ...], ...] = tuple(
            tuple(pid(t) for t in c.parts) for c in self.combinations
        )
        self.patterns: tuple[str, ...] = tuple(pattern_ids)
        self.single_by_pattern: tuple[Phrase | None, ...] = tuple(
            single_of.get(i) for i in range(len(self.patterns))
        )
        combos_of: list[list[int]] = [[] for _ in self.patterns]
        for ci, parts in enumerate(self.combo_parts):
            for p in set(parts):
                combos_of[p].append(ci)
        self.combos_by_pattern: tuple[tuple[int, ...], ...] = tuple(map(tuple, combos_of))
        # Each combination filed under one part only, its longest (long phrases
        # are rare on a page): a complete combination has every part on the
        # page, so its key part too, and scoring looks at a handful of
        # candidates instead of every combination sharing a common word.
        keyed: list[list[int]] = [[] for _ in self.patterns]
        for ci, parts in enumerate(self.combo_parts):
            keyed[max(parts, key=lambda q: len(self.patterns[q]))].append(ci)
        self.combos_by_key: tuple[tuple[int, ...], ...] = tuple(map(tuple, keyed))
        self.has_exceptions = any(p.kind is ListKind.EXCEPTION for p in self.singles) or any(
            c.kind is ListKind.EXCEPTION for c in self.combinations
        )
        # patterns whose hit may settle the verdict before the body ends
        triggers: set[int] = set()
        for i, p in enumerate(self.single_by_pattern):
            if p is not None and (
                p.kind is ListKind.EXCEPTION
                or (p.kind is ListKind.BANNED and not self.has_exceptions)
            ):
                triggers.add(i)
        for c, parts in zip(self.combinations, self.combo_parts, strict=True):
            if c.kind is ListKind.EXCEPTION or (
                c.kind is ListKind.BANNED and not self.has_exceptions
            ):
                triggers.update(parts)
        self.trigger_patterns: frozenset[int] = frozenset(triggers)
        self.max_phrase_len = max(map(len, self.patterns), default=0)
        self._weights: dict[int, tuple[int, ...]] = {}

        self.matcher: Matcher | None = (
            build_matcher(self.patterns, engine) if self.patterns else None
        )

    def single_weights(self, limit: int) -> tuple[int, ...]:
        """Each pattern's single-phrase weight under ``limit`` (0 unless weighted).

        Percent weights depend on the group's limit, so the table is built once
        per limit and kept; a race between threads only builds it twice.
        """
        table = self._weights.get(limit)
        if table is None:
            table = tuple(
                p.weight.resolve(limit) if p is not None and p.kind is ListKind.WEIGHTED else 0
                for p in self.single_by_pattern
            )
            self._weights[limit] = table
        return table

    def __len__(self) -> int:
        return len(self.singles) + len(self.combinations)

    def count(self, kind: ListKind, *, combinations: bool = False) -> int:
        items = self.combinations if combinations else self.singles
        return sum(1 for x in items if x.kind is kind)

    def new_scan(
        self,
        *,
        limit: int = 50,
        weighted_mode: str = "singular",
        filter_mode: str = "smart",
        content_type: str | None = None,
        content_encoding: str | None = None,
        max_scan_bytes: int = 2 * 1024 * 1024,
        max_decoded_bytes: int = 10 * 1024 * 1024,
    ) -> BodyScan:
        """Start scanning one response body (all per-request state lives there)."""
        from .scan import BodyScan

        return BodyScan(
            self,
            limit=limit,
            weighted_mode=weighted_mode,
            filter_mode=filter_mode,
            content_type=content_type,
            content_encoding=content_encoding,
            max_scan_bytes=max_scan_bytes,
            max_decoded_bytes=max_decoded_bytes,
        )


def build_phrase_set(
    entries: Iterable[tuple[RawEntry, bool]], files: Sequence[str] = ()
) -> PhraseSet:
    """Resolve duplicates over (entry, from_exception_file) pairs."""
    singles: dict[str, Phrase] = {}
    combos: dict[tuple[str, ...], Combination] = {}
    duplicates = 0
    for entry, exception_file in entries:
        kind = _kind(entry, exception_file)
        weight = entry.weight or Weight(0)
        if len(entry.parts) == 1:
            text = entry.parts[0]
            new = Phrase(text, kind, weight, entry.category, entry.source)
            old = singles.get(text)
            if old is None:
                singles[text] = new
                continue
            duplicates += 1
            if _replaces(kind, weight, old.kind, old.weight):
                singles[text] = new
        else:
            parts = tuple(dict.fromkeys(entry.parts))  # a repeated part adds nothing
            key = tuple(sorted(parts))
            newc = Combination(parts, kind, weight, entry.category, entry.source)
            oldc = combos.get(key)
            if oldc is None:
                combos[key] = newc
                continue
            duplicates += 1
            if _replaces(kind, weight, oldc.kind, oldc.weight):
                combos[key] = newc
    return PhraseSet(singles.values(), combos.values(), duplicates=duplicates, files=files)


def load_phrase_set(
    banned: Sequence[Path] = (),
    weighted: Sequence[Path] = (),
    exception: Sequence[Path] = (),
    *,
    list_dir: Path | None = None,
    aliases: Mapping[str, Path] | None = None,
) -> tuple[PhraseSet, list[LoadError]]:
    """Load list files (with their includes) into one PhraseSet.

    Never raises for list content: unreadable files and bad lines come back
    as LoadError values (level "error" = skipped, "warning" = used but odd).
    """
    parser = ListParser(list_dir=list_dir, aliases=aliases)
    pairs: list[tuple[RawEntry, bool]] = []
    for paths, is_exception in ((banned, False), (weighted, False), (exception, True)):
        for path in paths:
            pairs.extend((e, is_exception) for e in parser.parse(Path(path)))
    return build_phrase_set(pairs, [str(f) for f in parser.files]), parser.errors


def load_phrase_dir(list_dir: Path) -> tuple[PhraseSet, list[LoadError]]:
    """Load a folder laid out like e2guardian's `lists/`.

    Uses `bannedphraselist`, `weightedphraselist` and `exceptionphraselist`
    (each optional) and what they include; includes of
    `/etc/e2guardian/lists/...` are read from `list_dir` when that absolute
    path does not exist here.
    """
    list_dir = Path(list_dir)

    def existing(name: str) -> list[Path]:
        p = list_dir / name
        return [p] if p.is_file() else []

    return load_phrase_set(
        existing("bannedphraselist"),
        existing("weightedphraselist"),
        existing("exceptionphraselist"),
        list_dir=list_dir,
        aliases={E2G_LIST_DIR: list_dir},
    )
