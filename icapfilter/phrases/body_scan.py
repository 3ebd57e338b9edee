"""Scanning one response body, chunk by chunk, and scoring it as e2guardian 5.3.5.

Pipeline per batch of raw chunks (at least BATCH_BYTES, or what is left at the
end): Content-Encoding decoder (capped) -> e2guardian's passes on the bytes
(`bytemap`: smart pass, then raw pass) -> Aho-Corasick (matcher.py), and in
default mode one more pass over the decoded smart-pass text (`views`:
character references resolved, UTF-8 case-folded). The matcher streams keep
their state between chunks, so a phrase split over two chunks is found, and
every per-chunk state (inside a tag, last byte a space, an unfinished
reference, a split UTF-8 character) is carried, so any split of a body gives
the same result. Everything per request lives in the BodyScan, so nothing can
leak from one response to the next (e2g#832).

Scoring follows `NaughtyFilter::checkme`: the passes run in order; an
exception in a pass allows the page, a banned entry or a weight over the limit
in a pass blocks it, and in either case the later passes never run. The
naughtiness kept over the passes is the highest positive one (or, when none is
positive, the lowest). Default mode's decoded view comes after e2guardian's
passes, so it can only turn an e2guardian "allow" into a block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from operator import itemgetter

from ..content.charset import PRESCAN_BYTES, page_charset
from ..content.decoding import ContentDecoder
from ..content.types import is_html
from ..scan_settings import DEFAULT_LIMIT, DEFAULT_SCAN, ScanSettings
from .bytemap import PAGE_TABLE, RAW_ONLY_TABLE, RAW_PASS_TABLE, SmartStrip
from .decoded_pass import DecodedPass, FullDecodedView, WindowedView
from .model import ListKind, PhraseHit, ScanResult
from .phraseset import PhraseSet
from .scoring import keep_naughtiness, score_pass
from .views import ByteReferences, Decoded, View, extra_table

#: Raw body bytes gathered before a pass through the pipeline.
BATCH_BYTES = 16 * 1024
_value = itemgetter(1)
#: Charsets whose bytes are not ASCII-compatible: no decoded view.
_NOT_ASCII_COMPATIBLE = ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf_16", "utf_32")


_KIND_ORDER = {ListKind.EXCEPTION: 0, ListKind.BANNED: 1, ListKind.WEIGHTED: 2}


class BodyScan:
    """Per-response scanner: `feed(raw_bytes)` as data arrives, then `finish()`.

    `certain` turns True once more data cannot change the verdict: an
    exception entry was seen in the smart pass (the page is allowed), a banned
    one was seen *and the set has no exception entries* (with exceptions
    loaded an exception anywhere on the page may still save it), the scan cap
    was reached, or the body cannot be decoded at all. Feeding after that is
    harmless and ignored.
    """

    def __init__(
        self,
        phrase_set: PhraseSet,
        settings: ScanSettings = DEFAULT_SCAN,
        *,
        limit: int = DEFAULT_LIMIT,
        content_type: str | None = None,
        content_encoding: str | None = None,
    ) -> None:
        self._ps = phrase_set
        self._limit = limit
        self._singular = settings.weighted_mode == "singular"
        self._max_scan = settings.max_scan_bytes
        self._content_type = content_type
        self._exact = settings.e2guardian_exact
        self._decoder = ContentDecoder(content_encoding, settings.max_decoded_bytes)
        filter_mode = settings.filter_mode
        matcher = phrase_set.matcher
        self._smart_mode = filter_mode in ("smart", "both")
        self._raw_mode = filter_mode in ("raw", "both")
        self._strip = SmartStrip() if self._smart_mode else None
        self._smart = View("smart", matcher, PAGE_TABLE, smart=True) if self._smart_mode else None
        raw_table = RAW_PASS_TABLE if self._smart_mode else RAW_ONLY_TABLE
        self._raw = View("raw", matcher, raw_table, smart=False) if self._raw_mode else None
        self._views: list[View | DecodedPass] = [
            v for v in (self._smart, self._raw) if v is not None]
        # default mode's decoded view, set up once the charset is known
        self._decoded_view: DecodedPass | None = None
        self._utf8 = False
        self._head: bytearray | None = bytearray()  # until the charset is decided
        self._pending: list[bytes] = []  # the decoded view's input until then
        self.charset: str | None = None
        self.bytes_scanned = 0
        self.truncated = False
        self._notes: list[str] = []
        #: Set when the scan stopped on an internal error: the caller must not
        #: take the result as clean (policy.scanning.PhraseScan blocks).
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
        # Each pass through the pipeline has a fixed cost; Squid's chunks are
        # often a few KB, so small ones are gathered and run together.
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
        if self._head is not None:
            self._head += piece
        self._scan(piece)
        if self._head is not None and (len(self._head) >= PRESCAN_BYTES or self.truncated):
            self._start()
        if self.truncated:
            self._certain = True

    def _start(self) -> None:
        """Decide the charset and start the decoded view on what came so far.

        e2guardian's passes need no charset and run from the first byte; only
        default mode's decoded view waits for the `<meta>` prescan.
        """
        assert self._head is not None
        head, self._head = bytes(self._head), None
        pending, self._pending = self._pending, []
        codec, _source = page_charset(head, self._content_type, html=is_html(self._content_type))
        self.charset = codec
        matcher = self._ps.matcher
        if (not self._exact and matcher is not None
                and codec.replace("_", "-") not in _NOT_ASCII_COMPATIBLE):
            # One decoded view: of the smart pass's text when there is one (page
            # text, scripts and styles), else of the raw pass's. A second one
            # for the raw pass (attributes, comments) would cost a quarter of
            # the throughput for text no browser shows.
            utf8 = self._utf8 = codec.replace("_", "-") == "utf-8"
            table = extra_table(not self._smart_mode, utf8)
            twin = self._smart if self._smart is not None else self._raw
            assert twin is not None
            view: DecodedPass
            if self._singular:
                # which entries matched is all that counts: decode only around
                # what decoding changes
                view = WindowedView(
                    twin, matcher, self._ps.max_phrase_len, table,
                    Decoded if utf8 else lambda: ByteReferences(codec),
                    smart=self._smart_mode, utf8=utf8, joinable=not self._ps.keys_hold_nul)
            else:
                # the twin is past the pending chunks already: read them in full
                view = FullDecodedView(
                    twin, matcher, table, Decoded() if utf8 else ByteReferences(codec),
                    smart=self._smart_mode, utf8=utf8, in_sync=not pending)
            self._decoded_view = view
            self._views.append(view)
            for data in pending:
                view.feed(data)
        self._check_certain()

    def _scan(self, data: bytes) -> None:
        if not data:
            return
        stripped = b""
        if self._smart is not None:
            assert self._strip is not None
            stripped = self._strip.feed(data)
            found = self._smart.feed(stripped)
            if self._decoded_view is not None:
                self._decoded_view.feed(stripped, found)
            elif self._head is not None and not self._exact:
                self._pending.append(stripped)
        if self._raw is not None:
            found = self._raw.feed(data)
            if self._smart is None:
                if self._decoded_view is not None:
                    self._decoded_view.feed(data, found)
                elif self._head is not None and not self._exact:
                    self._pending.append(data)
        self._check_certain()

    def _check_certain(self) -> None:
        ps = self._ps
        if self._smart is not None and ps.has_exceptions:
            if self._smart_decides(self._counts(self._smart), exception=True):
                self._certain = True
                return
        if not ps.has_exceptions:
            for v in self._views:
                if self._smart_decides(self._counts(v, early=True), exception=False):
                    self._certain = True
                    return

    def _smart_decides(self, counts: dict[int, int] | None, *, exception: bool) -> bool:
        if not counts:
            return False
        ps = self._ps
        want = ListKind.EXCEPTION if exception else ListKind.BANNED
        for pid in counts:
            single = ps.single_by_pattern[pid]
            if single is not None and single.kind is want:
                return True
            for ci in ps.combos_by_pattern[pid]:
                combo = ps.combinations[ci]
                if combo.kind is want and all(q in counts for q in ps.combo_parts[ci]):
                    return True
        return False

    def _counts(self, view: View | DecodedPass, *, early: bool = False,
                twin_score: int = 0) -> dict[int, int] | None:
        """A view's counts by entry (pattern id) rather than automaton key.

        `early` (while feeding): for the decoded view only what it found
        beyond its twin, which was checked already.
        """
        ps = self._ps
        n = len(ps.patterns)
        if isinstance(view, View):
            counts = view.counts
        elif early:
            counts = view.new_keys()
        else:
            keys = view.keys(self._needs_exact(twin_score))
            if keys is None:
                twin = view.twin.counts
                if not view.utf8 or ps.refolded.isdisjoint(twin):
                    return None  # it reads as its twin, so it scores as its twin
                keys = twin
            counts = keys
        if view.utf8 and not ps.folded_is_identity:
            out: dict[int, int] = {}
            fmap = ps.folded_map
            for key, c in counts.items():
                for pid in fmap[key]:
                    out[pid] = out.get(pid, 0) + c
            return out
        if len(ps.automaton_keys) == n:
            return counts
        return {k: c for k, c in counts.items() if k < n}

    def _needs_exact(self, twin_score: int) -> Callable[[set[int], Counter[int]], bool]:
        """Whether keys that decoding destroys can change the decoded view's verdict.

        Without new keys the decoded view holds at most its twin's, so only
        lost negative entries can lift it, and only by their weights: when
        even that stays within the limit, its twin's keys stand in for it.
        """
        lowering = self._ps.lowering(self._limit)

        def needs(new: set[int], twin: Counter[int]) -> bool:
            if new:
                return True
            lost: dict[int, int] = {}  # what could be lost, by entry
            for k in lowering.keys() & twin.keys():
                for entry, weight, parts in lowering[k]:
                    if all(p in twin for p in parts):
                        lost[entry] = weight
            return twin_score + sum(lost.values()) > self._limit

        return needs

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
            if self._head is not None:
                self._start()
            if self._decoded_view is not None:
                self._decoded_view.finish()
        except Exception as exc:  # noqa: BLE001
            self._notes.append(f"scan stopped by internal error: {exc!r}")
            self.error = self.error or repr(exc)
        self._finished = self._result()
        return self._finished

    def _result(self) -> ScanResult:
        notes = self._decoder.notes + self._notes
        ps = self._ps
        naughtiness = 0
        hits: dict[str, PhraseHit] = {}
        decision: tuple[bool, str, str | None] | None = None  # (blocked, reason, category)
        decided_by: View | DecodedPass | None = None
        twin_score = 0
        for view in self._views:
            counts = self._counts(view, twin_score=twin_score)
            if counts is None:  # reads as its twin, which did not decide
                continue
            s = score_pass(ps, counts, self._limit, self._singular)
            if view is self._smart or self._smart is None:
                twin_score = s.score
            for key, h in s.hits.items():
                old = hits.get(key)
                if old is None or h.count > old.count:
                    hits[key] = h
            if s.exception is not None:
                decision = (False, *s.exception)
            else:
                naughtiness = keep_naughtiness(naughtiness, s.score)
                if s.banned is not None:
                    decision = (True, *s.banned)
                elif s.score > self._limit:  # strictly greater, as e2guardian
                    category = max(s.categories.items(), key=_value)[0] if s.categories else None
                    decision = (True, "weighted phrase limit exceeded", category)
            if decision is not None:
                decided_by = view
                break
        if decision is not None:
            blocked, reason, category = decision
        else:
            blocked, category = False, None
            if self._decoder.unsupported:
                reason = "not scanned: unsupported Content-Encoding"
            elif self.truncated:
                reason = f"scan truncated at {self.bytes_scanned} bytes"
            else:
                reason = "clean"
        if decided_by is not None and decided_by.extra and blocked:
            notes = [*notes, _decoded_note(self._utf8)]
        phrases = sorted(
            hits.values(),
            key=lambda h: (_KIND_ORDER[h.list_kind], -h.weight * h.count, h.phrase),
        )
        return ScanResult(
            blocked=blocked,
            score=naughtiness,
            reason=reason,
            category=category,
            phrases=phrases,
            bytes_scanned=self.bytes_scanned,
            truncated=self.truncated,
            notes=notes,
        )


def _decoded_note(utf8: bool) -> str:
    what = "character references decoded" + (", Unicode case folded" if utf8 else "")
    return (
        f"blocked by default mode's decoded view ({what}); "
        "e2guardian 5.3.5 allows this page (see --e2guardian-exact)"
    )
