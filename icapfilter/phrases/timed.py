"""A phrase set at a moment: entries whose ``#time:`` window is closed are skipped.

e2guardian finds every entry on the page and then ignores those whose window
is closed (``checkTimeAt`` in ``checkphrase``). The same is done here without
a second automaton: the variant of a set for a set of closed windows shares
the matcher and blanks the muted entries in the scoring tables, so the
scanner and the scoring code need not know about time at all. Variants are
kept on the set (there are few window states) and built once each.
"""

from __future__ import annotations

import copy
from datetime import datetime

from .model import ListKind
from .phraseset import PhraseSet
from .timewindow import TimeWindow


def time_windows(phrases: PhraseSet) -> tuple[TimeWindow, ...]:
    """The distinct #time: windows of a set's entries, in list order."""
    cache = vars(phrases)
    found: tuple[TimeWindow, ...] | None = cache.get("_time_windows")
    if found is None:
        found = tuple(dict.fromkeys(
            [p.window for p in phrases.singles if p.window is not None]
            + [c.window for c in phrases.combinations if c.window is not None]))
        cache["_time_windows"] = found
    return found


def phrase_state(phrases: PhraseSet, moment: datetime) -> str:
    """Which windows are open at ``moment`` ("" for a set without any): a
    scan's verdict depends on it, so learned verdicts are keyed by it."""
    windows = time_windows(phrases)
    if not windows:
        return ""
    return "p" + "".join("1" if w.active(moment) else "0" for w in windows)


def phrases_at(phrases: PhraseSet, moment: datetime) -> PhraseSet:
    """``phrases`` as e2guardian scans with it at ``moment``."""
    windows = time_windows(phrases)
    if not windows:
        return phrases
    closed = frozenset(w for w in windows if not w.active(moment))
    if not closed:
        return phrases
    variants: dict[frozenset[TimeWindow], PhraseSet] = vars(phrases).setdefault(
        "_time_variants", {})
    variant = variants.get(closed)
    if variant is None:
        variant = variants[closed] = _muted(phrases, closed)
    return variant


def _muted(phrases: PhraseSet, closed: frozenset[TimeWindow]) -> PhraseSet:
    variant = copy.copy(phrases)
    vars(variant).pop("_time_variants", None)
    variant.single_by_pattern = tuple(
        None if p is not None and p.window in closed else p for p in phrases.single_by_pattern)
    muted = {ci for ci, c in enumerate(phrases.combinations) if c.window in closed}
    variant.combos_by_pattern = tuple(
        tuple(ci for ci in cis if ci not in muted) for cis in phrases.combos_by_pattern)
    variant.combos_by_key = tuple(
        tuple(ci for ci in cis if ci not in muted) for cis in phrases.combos_by_key)
    variant.partless_combos = tuple(ci for ci in phrases.partless_combos if ci not in muted)
    variant.has_exceptions = any(
        p is not None and p.kind is ListKind.EXCEPTION for p in variant.single_by_pattern
    ) or any(c.kind is ListKind.EXCEPTION
             for ci, c in enumerate(phrases.combinations) if ci not in muted)
    # tables derived from the blanked ones are rebuilt for the variant
    for name in ("_weights", "_lowering"):
        if name in vars(variant):
            vars(variant)[name] = {}
    return variant
