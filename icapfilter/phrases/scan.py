"""Scanning one response body, chunk by chunk, and scoring it as e2guardian.

Pipeline per batch of raw chunks (at least BATCH_BYTES, or what is left at the
end): Content-Encoding decoder (capped) -> charset decoder
-> [smart: HTML text extractor] -> normaliser -> Aho-Corasick (matcher.py).
The matcher's stream keeps its state between chunks, so a phrase split over
two chunks is found, and the normaliser keeps word boundaries across chunks.
Everything per request lives in the BodyScan, so nothing can leak from one
response to the next (e2g#832).
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import TYPE_CHECKING

from ..content.charset import BodyTextDecoder
from ..content.decoding import ContentDecoder
from ..content.html_text import HtmlTextExtractor
from ..content.types import is_html
from .model import ListKind, PhraseHit, ScanResult
from .normalize import TextNormalizer

if TYPE_CHECKING:
    from .matcher import Matcher
    from .phraseset import PhraseSet

WEIGHTED_MODES = ("singular", "normal")
FILTER_MODES = ("smart", "raw", "both")
#: Raw body bytes gathered before a pass through the pipeline.
BATCH_BYTES = 16 * 1024
_value = itemgetter(1)


class _Pass:
    """One way of reading the page (smart or raw) and its hit counts."""

    __slots__ = ("name", "counts", "_norm", "_stream")

    def __init__(self, name: str, matcher: Matcher | None) -> None:
        self.name = name
        self.counts: Counter[int] = Counter()
        self._norm = TextNormalizer()
        # the matcher's stream keeps its state between chunks, so a phrase
        # split over two chunks is found without the caller keeping a tail
        self._stream = matcher.stream() if matcher is not None else None
        self._scan(self._norm.start())

    def _scan(self, text: str) -> None:
        if text and self._stream is not None:
            self.counts.update(self._stream.feed(text))

    def feed(self, text: str) -> None:
        if text:
            self._scan(self._norm.feed(text))

    def finish(self) -> None:
        self._scan(self._norm.finish())


class _PassScore:
    __slots__ = ("exception", "banned", "score", "categories", "hits")

    def __init__(self) -> None:
        self.exception: tuple[str, str | None] | None = None  # (reason, category)
        self.banned: tuple[str, str | None] | None = None
        self.score = 0
        self.categories: dict[str, int] = {}
        self.hits: dict[str, PhraseHit] = {}


def _score_pass(ps: PhraseSet, counts: Counter[int], limit: int, singular: bool) -> _PassScore:
    """e2guardian's checkphrase for one pass (combinations first, then singles)."""
    out = _PassScore()
    candidate_combos: set[int] = set()
    by_key = ps.combos_by_key
    for pid in counts:
        if by_key[pid]:
            candidate_combos.update(by_key[pid])
    for ci in sorted(candidate_combos):
        parts = ps.combo_parts[ci]
        if not all(p in counts for p in parts):
            continue
        combo = ps.combinations[ci]
        n = min(counts[p] for p in parts)
        w = combo.weight.resolve(limit) if combo.kind is ListKind.WEIGHTED else 0
        out.hits[combo.text] = PhraseHit(combo.text, w, combo.kind, n, combo.category, True)
        if combo.kind is ListKind.EXCEPTION:
            out.exception = out.exception or ("exception combination", combo.category)
        elif combo.kind is ListKind.BANNED:
            out.banned = out.banned or ("banned combination", combo.category)
        else:
            add = w if singular else w * n
            out.score += add
            if combo.category:
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
        hits[p.text] = PhraseHit(p.text, w, kind, n, p.category)
        if kind is weighted:
            add = w if singular else w * n
            score += add
            if p.category:
                categories[p.category] = categories.get(p.category, 0) + add
        elif kind is ListKind.EXCEPTION:
            out.exception = out.exception or ("exception phrase", p.category)
        elif out.banned is None or out.banned[0] != "banned phrase":
            out.banned = ("banned phrase", p.category)
    out.score = score
    return out


_KIND_ORDER = {ListKind.EXCEPTION: 0, ListKind.BANNED: 1, ListKind.WEIGHTED: 2}


class BodyScan:
    """Per-response scanner: `feed(raw_bytes)` as data arrives, then `finish()`.

    `certain` turns True once more data cannot change the verdict: an
    exception phrase/combination was seen (page allowed), a banned one was
    seen *and the set has no exception entries* (e2guardian lets an exception
    anywhere on the page override a banned phrase, so with exceptions loaded a
    banned hit is not final), the scan cap was reached, or the body cannot be
    decoded at all. Feeding after that is harmless and ignored.
    """

    def __init__(
        self,
        phrase_set: PhraseSet,
        *,
        limit: int,
        weighted_mode: str,
        filter_mode: str,
        content_type: str | None,
        content_encoding: str | None,
        max_scan_bytes: int,
        max_decoded_bytes: int,
    ) -> None:
        if weighted_mode not in WEIGHTED_MODES:
            raise ValueError(f"weighted_mode must be one of {WEIGHTED_MODES}")
        if filter_mode not in FILTER_MODES:
            raise ValueError(f"filter_mode must be one of {FILTER_MODES}")
        self._ps = phrase_set
        self._limit = limit
        self._singular = weighted_mode == "singular"
        self._max_scan = max_scan_bytes
        self._decoder = ContentDecoder(content_encoding, max_decoded_bytes)
        html = is_html(content_type)
        self._text = BodyTextDecoder(content_type, html=html)
        matcher = phrase_set.matcher
        self._extractor: HtmlTextExtractor | None = None
        self._smart: _Pass | None = None
        self._raw: _Pass | None = None
        if html and filter_mode in ("smart", "both"):
            self._extractor = HtmlTextExtractor()
            self._smart = _Pass("smart", matcher)
        if filter_mode in ("raw", "both") or not html:
            # without markup, smart and raw read the same text: one pass
            self._raw = _Pass("raw", matcher)
        self._passes = [p for p in (self._smart, self._raw) if p is not None]
        self.bytes_scanned = 0
        self.truncated = False
        self._notes: list[str] = []
        #: Set when the scan stopped on an internal error: the caller must not
        #: take the result as clean (filtering.PhraseScan blocks).
        self.error: str | None = None
        self._certain = self._decoder.unsupported
        self._finished: ScanResult | None = None
        self._batch: list[bytes] = []
        self._batched = 0
        self._provisional: ScanResult | None = None  # cached: asked for per streamed chunk
        self._provisional_state: tuple[int, bool, bool, int] | None = None

    @property
    def certain(self) -> bool:
        return self._certain

    def feed(self, raw_chunk: bytes) -> None:
        if self._certain or self._finished is not None or not raw_chunk:
            return
        # Each pass through the decoders, the extractor and the automaton has
        # a fixed cost (~50 us); Squid's chunks are often a few KB, so small
        # ones are gathered and run together.
        self._batch.append(raw_chunk)
        self._batched += len(raw_chunk)
        if self._batched >= BATCH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        data = self._batch[0] if len(self._batch) == 1 else b"".join(self._batch)
        self._batch.clear()
        self._batched = 0
        if self._certain:
            return
        try:
            for piece in self._decoder.feed(data):
                self._take(piece)
                if self._certain:
                    break
            if self._decoder.truncated:
                self.truncated = self._certain = True
        except Exception as exc:  # noqa: BLE001 - a body must never crash the server
            self._notes.append(f"scan stopped by internal error: {exc!r}")
            self.error = self.error or repr(exc)
            self._certain = True

    def _take(self, piece: bytes) -> None:
        room = self._max_scan - self.bytes_scanned
        if len(piece) > room:
            piece = piece[:room]
            self.truncated = True
        self.bytes_scanned += len(piece)
        self._scan_text(self._text.feed(piece))
        if self.truncated:
            self._certain = True

    def _scan_text(self, text: str) -> None:
        if not text:
            return
        if self._smart is not None:
            assert self._extractor is not None
            self._smart.feed(self._extractor.feed(text))
        if self._raw is not None:
            self._raw.feed(text)
        self._check_certain()

    def _check_certain(self) -> None:
        ps = self._ps
        if not ps.trigger_patterns:
            return
        for p in self._passes:
            hit = ps.trigger_patterns.intersection(p.counts)
            if hit and self._decides(p.counts, hit):
                self._certain = True
                return

    def _decides(self, counts: Counter[int], hit: set[int]) -> bool:
        ps = self._ps
        for pid in hit:
            single = ps.single_by_pattern[pid]
            if single is not None and single.kind is not ListKind.WEIGHTED:
                return True  # exception, or banned with no exceptions loaded
            for ci in ps.combos_by_pattern[pid]:
                combo = ps.combinations[ci]
                if combo.kind is not ListKind.WEIGHTED and all(
                    q in counts for q in ps.combo_parts[ci]
                ):
                    return True
        return False

    def provisional(self) -> ScanResult:
        """The verdict on what was scanned so far, without ending the scan.

        The server asks for it when it must start answering before the body
        has ended (Squid 5.7's 64 KB limit, see docs/squid.md): a page whose
        first part already blocks is blocked, even though a later exception
        phrase or negative weight could have saved it under e2guardian's
        whole-page rule.
        """
        if self._finished is not None:
            return self._finished
        self._flush()
        state = (self.bytes_scanned, self.truncated, self._certain, len(self._notes))
        if self._provisional is None or self._provisional_state != state:
            self._provisional, self._provisional_state = self._result(), state
        return self._provisional

    def finish(self) -> ScanResult:
        """Flush everything and score; calling it again returns the same result."""
        if self._finished is not None:
            return self._finished
        self._flush()
        try:
            if not self.truncated and not self._decoder.unsupported:
                for piece in self._decoder.finish():
                    self._take(piece)
                if self._decoder.truncated:
                    self.truncated = True
            tail = self._text.finish()
            if self._smart is not None:
                assert self._extractor is not None
                self._smart.feed(self._extractor.feed(tail) + self._extractor.finish())
            if self._raw is not None:
                self._raw.feed(tail)
            for p in self._passes:
                p.finish()
        except Exception as exc:  # noqa: BLE001
            self._notes.append(f"scan stopped by internal error: {exc!r}")
            self.error = self.error or repr(exc)
        self._finished = self._result()
        return self._finished

    def _result(self) -> ScanResult:
        notes = self._decoder.notes + self._text.notes + self._notes
        scores = [
            _score_pass(self._ps, p.counts, self._limit, self._singular) for p in self._passes
        ]
        hits: dict[str, PhraseHit] = {}
        for s in scores:
            for key, h in s.hits.items():
                old = hits.get(key)
                if old is None or h.count > old.count:
                    hits[key] = h
        phrases = sorted(
            hits.values(),
            key=lambda h: (_KIND_ORDER[h.list_kind], -h.weight * h.count, h.phrase),
        )
        best = max(scores, key=lambda s: s.score, default=None)
        score = best.score if best is not None else 0
        exception = next((s.exception for s in scores if s.exception), None)
        banned = next((s.banned for s in scores if s.banned), None)
        blocked = False
        category: str | None = None
        if exception is not None:
            reason, category = exception
        elif banned is not None:
            blocked = True
            reason, category = banned
        elif score > self._limit:  # strictly greater, as e2guardian
            blocked = True
            reason = "weighted phrase limit exceeded"
            if best is not None and best.categories:
                # the first of the highest, as Counter.most_common(1) gives
                category = max(best.categories.items(), key=_value)[0]
        elif self._decoder.unsupported:
            reason = "not scanned: unsupported Content-Encoding"
        elif self.truncated:
            reason = f"scan truncated at {self.bytes_scanned} bytes"
        else:
            reason = "clean"
        return ScanResult(
            blocked=blocked,
            score=score,
            reason=reason,
            category=category,
            phrases=phrases,
            bytes_scanned=self.bytes_scanned,
            truncated=self.truncated,
            notes=notes,
        )
