"""A loaded, immutable set of phrase lists and its multi-pattern matcher.

Built once per (re)load and then shared by every worker thread: nothing in it
is mutated after `__init__`, and both matcher engines allow any number of
concurrent searches on a finished automaton (each scan has its own stream).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .bytemap import dead_byte_in
from .matcher import Matcher, build_matcher
from .model import Combination, ListKind, LoadError, Phrase, Weight
from .parser import ListParser, RawEntry

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


def fold_key(key: bytes) -> bytes:
    """A list entry as default mode's Unicode view of UTF-8 pages looks for it.

    Valid UTF-8 with non-ASCII characters is case-folded (`str.casefold`);
    anything else (ASCII, Latin-1, windows-1251 bytes...) stays as it is.
    """
    if key.isascii():
        return key
    try:
        return key.decode("utf-8").casefold().encode("utf-8")
    except UnicodeDecodeError:
        return key


class PhraseSet:
    """Banned, weighted and exception phrases and combinations, ready to scan.

    One automaton serves both views: its first `len(patterns)` keys are the
    entries' own bytes (e2guardian's view), followed by the case-folded forms
    of UTF-8 entries that differ from every entry (default mode's view of
    UTF-8 pages). `folded_map[k]` names the entries a hit on key `k` counts
    for in that view.
    """

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

        pattern_ids: dict[bytes, int] = {}

        def pid(key: bytes) -> int:
            return pattern_ids.setdefault(key, len(pattern_ids))

        single_of: dict[int, Phrase] = {pid(p.key): p for p in self.singles}
        self.combo_parts: tuple[tuple[int, ...], ...] = tuple(
            tuple(dict.fromkeys(pid(k) for k in c.keys)) for c in self.combinations
        )
        self.patterns: tuple[bytes, ...] = tuple(pattern_ids)
        n = len(self.patterns)
        self.single_by_pattern: tuple[Phrase | None, ...] = tuple(
            single_of.get(i) for i in range(n)
        )
        combos_of: list[list[int]] = [[] for _ in range(n)]
        for ci, parts in enumerate(self.combo_parts):
            for p in parts:
                combos_of[p].append(ci)
        self.combos_by_pattern: tuple[tuple[int, ...], ...] = tuple(map(tuple, combos_of))
        # Each combination filed under one part only, its longest (long phrases
        # are rare on a page): a complete combination has every part on the
        # page, so its key part too, and scoring looks at a handful of
        # candidates instead of every combination sharing a common word.
        keyed: list[list[int]] = [[] for _ in range(n)]
        for ci, parts in enumerate(self.combo_parts):
            if parts:
                keyed[max(parts, key=lambda q: len(self.patterns[q]))].append(ci)
        self.combos_by_key: tuple[tuple[int, ...], ...] = tuple(map(tuple, keyed))
        #: combinations without parts: e2guardian applies them to every page
        self.partless_combos: tuple[int, ...] = tuple(
            ci for ci, parts in enumerate(self.combo_parts) if not parts
        )
        self.has_exceptions = any(p.kind is ListKind.EXCEPTION for p in self.singles) or any(
            c.kind is ListKind.EXCEPTION for c in self.combinations
        )
        self._weights: dict[int, tuple[int, ...]] = {}
        self._lowering: dict[int, dict[int, tuple[tuple[int, int, tuple[int, ...]], ...]]] = {}

        keys = list(self.patterns)
        index = {k: i for i, k in enumerate(keys)}
        targets: list[list[int]] = [[] for _ in keys]
        for i, key in enumerate(self.patterns):
            folded = fold_key(key)
            k = index.get(folded)
            if k is None:
                k = index[folded] = len(keys)
                keys.append(folded)
                targets.append([])
            targets[k].append(i)
        self.automaton_keys: tuple[bytes, ...] = tuple(keys)
        self.folded_map: tuple[tuple[int, ...], ...] = tuple(map(tuple, targets))
        #: True when the folded view counts exactly as the byte view does
        self.folded_is_identity = len(keys) == n and all(
            t == (i,) for i, t in enumerate(self.folded_map)
        )
        #: keys the folded view counts otherwise than the byte view does
        self.refolded = frozenset(k for k, t in enumerate(self.folded_map) if t != (k,))
        self.max_phrase_len = max(map(len, keys), default=0)
        #: a key holding NUL (a dead entry) forbids NUL as a separator of texts
        self.keys_hold_nul = any(b"\x00" in k for k in keys)
        self.matcher: Matcher | None = build_matcher(keys, engine) if keys else None

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

    def lowering(self, limit: int) -> dict[int, tuple[tuple[int, int, tuple[int, ...]], ...]]:
        """Automaton keys whose match can lower a score under ``limit``.

        Each key names what it takes part in: `(id, weight lost, parts)`,
        a negative weighted entry (parts empty) or a negative combination
        (scored only when all its parts, pattern ids, matched). Default
        mode's windowed decoded view (decoded_pass.py) counts exactly only
        where losing such matches could lift a page over the limit.
        """
        table = self._lowering.get(limit)
        if table is None:
            weights = self.single_weights(limit)
            by_pid: dict[int, list[tuple[int, int, tuple[int, ...]]]] = {}
            for pid, w in enumerate(weights):
                if w < 0:
                    by_pid.setdefault(pid, []).append((-1 - pid, -w, ()))
            for ci, combo in enumerate(self.combinations):
                w = combo.weight.resolve(limit) if combo.kind is ListKind.WEIGHTED else 0
                if w < 0:
                    parts = tuple(self.combo_parts[ci])
                    for pid in parts:
                        by_pid.setdefault(pid, []).append((ci, -w, parts))
            n = len(self.patterns)
            table = {}
            for k, targets in enumerate(self.folded_map):
                pids = set(targets) | ({k} if k < n else set())
                entries = tuple(e for pid in sorted(pids) for e in by_pid.get(pid, ()))
                if entries:
                    table[k] = entries
            self._lowering[limit] = table
        return table

    def __len__(self) -> int:
        return len(self.singles) + len(self.combinations)

    def count(self, kind: ListKind, *, combinations: bool = False) -> int:
        items = self.combinations if combinations else self.singles
        return sum(1 for x in items if x.kind is kind)


def build_phrase_set(
    entries: Iterable[tuple[RawEntry, bool]], files: Sequence[str] = ()
) -> PhraseSet:
    """Resolve duplicate single phrases over (entry, from_exception_file) pairs.

    Combinations are kept one per line, duplicates included: e2guardian
    evaluates each line of its combination list on its own.
    """
    singles: dict[bytes, Phrase] = {}
    combos: list[Combination] = []
    duplicates = 0
    for entry, exception_file in entries:
        kind = _kind(entry, exception_file)
        weight = entry.weight or Weight(0)
        if not entry.combination:
            key = entry.parts[0]
            new = Phrase(entry.display[0], kind, weight, entry.category, entry.source, key,
                         entry.window)
            old = singles.get(key)
            if old is None:
                singles[key] = new
                continue
            duplicates += 1
            if _replaces(kind, weight, old.kind, old.weight):
                singles[key] = new
        else:
            combos.append(
                Combination(entry.display, kind, weight, entry.category, entry.source, entry.parts,
                            entry.window)
            )
    return PhraseSet(singles.values(), combos, duplicates=duplicates, files=files)


def _describe(byte: int) -> str:
    if 0x41 <= byte <= 0x5A:
        return f"the upper-case letter '{chr(byte)}' (a #noconvert list; pages are lowercased)"
    if 0xC0 <= byte <= 0xDD:
        return (
            f"the byte 0x{byte:02X}, which e2guardian lowercases to 0x{byte + 32:02X} in "
            "every page (in UTF-8 text: the first byte of an accented or Cyrillic letter)"
        )
    if byte in (0x3C, 0x3E):
        return f"'{chr(byte)}', which no pass ever scans"
    if byte < 0x20 or byte == 0x7F:
        return f"the control byte 0x{byte:02X}, a space in every page"
    return f"'{chr(byte)}', a space in every page"


def dead_entry_errors(entries: Iterable[RawEntry]) -> list[LoadError]:
    """One warning per entry that e2guardian can never match, naming why."""
    out: list[LoadError] = []
    for entry in entries:
        for key, shown in zip(entry.parts, entry.display, strict=True):
            bad = dead_byte_in(key)
            if bad is None:
                continue
            what = "combination part" if entry.combination else "phrase"
            revived = (
                not key.isascii()
                and dead_byte_in(fold_key(key), utf8_view=True) is None
                and _is_utf8(key)
            )
            note = "; default mode still matches it on UTF-8 pages" if revived else ""
            path, _, line = entry.source.rpartition(":")
            out.append(
                LoadError(
                    path,
                    int(line),
                    f"{DEAD_PREFIX}{what} <{shown}> contains {_describe(bad)}{note}",
                    "warning",
                )
            )
            break
    return out


DEAD_PREFIX = "never matches: "


def load_log_lines(errors: Iterable[LoadError]) -> list[str]:
    """Load problems for the server log: one line each, except entries that
    can never match, which are named by line number, one line per file."""
    lines: list[str] = []
    dead: dict[str, list[int]] = {}
    for e in errors:
        if e.message.startswith(DEAD_PREFIX):
            dead.setdefault(e.path, []).append(e.line)
        else:
            lines.append(str(e))
    for path, numbers in dead.items():
        lines.append(
            f"{path}: {len(numbers)} entries never match, as in e2guardian (lines "
            f"{', '.join(map(str, numbers))}); 'icapfilter scan --show-list-errors' says why"
        )
    return lines


def _is_utf8(key: bytes) -> bool:
    try:
        key.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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
    as LoadError values (level "error" = skipped, "warning" = read as
    e2guardian reads it, which differs from what the line seems to say, or
    an entry that can never match).
    """
    parser = ListParser(list_dir=list_dir, aliases=aliases)
    pairs: list[tuple[RawEntry, bool]] = []
    # e2guardian's order: exception list first, then banned, then weighted
    for paths, is_exception in ((exception, True), (banned, False), (weighted, False)):
        for path in paths:
            pairs.extend(
                (e, is_exception) for e in parser.parse(Path(path), exception_file=is_exception)
            )
    errors = parser.errors + dead_entry_errors(e for e, _ in pairs)
    return build_phrase_set(pairs, [str(f) for f in parser.files]), errors


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
