"""Scoring one pass over a page as e2guardian 5.3.5's checkphrase does, and
the naughtiness kept over the passes (NaughtyFilter::checkme)."""

from __future__ import annotations

from .model import ListKind, PhraseHit
from .phraseset import PhraseSet


class PassScore:
    __slots__ = ("exception", "banned", "score", "categories", "hits")

    def __init__(self) -> None:
        self.exception: tuple[str, str | None] | None = None  # (reason, category)
        self.banned: tuple[str, str | None] | None = None
        self.score = 0
        self.categories: dict[str, int] = {}
        self.hits: dict[str, PhraseHit] = {}


def score_pass(ps: PhraseSet, counts: dict[int, int], limit: int, singular: bool) -> PassScore:
    """e2guardian's checkphrase for one pass: combinations in list order, then singles."""
    out = PassScore()
    candidates: set[int] = set(ps.partless_combos)
    by_key = ps.combos_by_key
    for pid in counts:
        if by_key[pid]:
            candidates.update(by_key[pid])
    prev_ci, prev_low = -2, 0
    for ci in sorted(candidates):
        parts = ps.combo_parts[ci]
        if not all(p in counts for p in parts):
            continue  # incomplete: e2guardian resets its running minimum
        low = min((counts[p] for p in parts), default=0)
        if prev_ci == ci - 1 and prev_low and (low == 0 or prev_low < low):
            # e2guardian only resets "lowest occurrences" after an incomplete
            # combination, so it carries over between consecutive complete ones
            low = prev_low
        prev_ci, prev_low = ci, low
        combo = ps.combinations[ci]
        kind = combo.kind
        w = combo.weight.resolve(limit) if kind is ListKind.WEIGHTED else 0
        if kind is ListKind.WEIGHTED and w == 0:
            kind = ListKind.BANNED  # a percentage that comes to 0 at this limit
        out.hits[combo.text] = PhraseHit(combo.text, w, kind, low, combo.category, True)
        if kind is ListKind.EXCEPTION:
            out.exception = ("exception combination", combo.category)
            return out
        if kind is ListKind.BANNED:
            out.banned = ("banned combination", combo.category)
        else:
            add = w if singular else w * low
            out.score += add
            if combo.category and w > 0:
                out.categories[combo.category] = out.categories.get(combo.category, 0) + add
    # The hot loop: about 80 phrases per ordinary page, so locals and weights
    # resolved once per limit.
    singles = ps.single_by_pattern
    weights = ps.single_weights(limit)
    hits = out.hits
    categories = out.categories
    score = out.score
    weighted = ListKind.WEIGHTED
    for pid, n in counts.items():
        p = singles[pid]
        if p is None:
            continue
        kind = p.kind
        w = weights[pid]
        if kind is weighted and w == 0:
            kind = ListKind.BANNED
        hits[p.text] = PhraseHit(p.text, w, kind, n, p.category)
        if kind is weighted:
            add = w if singular else w * n
            score += add
            if p.category and add > 0:
                categories[p.category] = categories.get(p.category, 0) + add
        elif kind is ListKind.EXCEPTION:
            out.exception = ("exception phrase", p.category)
            out.score = score
            return out
        elif out.banned is None:
            out.banned = ("banned phrase", p.category)
    out.score = score
    return out


def keep_naughtiness(kept: int, weighting: int) -> int:
    """NaughtyFilter: the highest positive weighting, else the lowest negative."""
    if (
        (weighting < 0 and kept <= 0 and weighting < kept)
        or (kept >= 0 and weighting > kept)
        or (kept < 0 and weighting > 0)
    ):
        return weighting
    return kept
