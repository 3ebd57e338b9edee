"""Default mode's decoded view in singular mode, scanned only where decoding changes the text.

Most of a page reads the same decoded as e2guardian reads it: only character
references and (on UTF-8 pages) non-ASCII characters differ. In singular
weighted mode the verdict depends on *which* entries matched, not how often,
so the decoded view's keys are

- every key its e2guardian twin (the smart pass, or the raw pass in raw-only
  mode) matched somewhere outside the windows below: there the two texts are
  the same bytes; plus
- every key matched in the decoded text of a window: the bytes around a run
  of transformed spans, `reach` (the longest key) non-space bytes on each
  side, which a match touching a span can never leave (space runs fold, so
  they are not counted).

"Outside the windows" is counted, not located: a key is outside when the
twin's count of it exceeds its count in the twin's own reading of the
windows. That reading is only made when it can change the verdict (the
windows found a key the twin did not, or lost negative entries could lift
the page over the limit): a
key that exists only through undecoded reference text (`" amp "` from
`&amp;`) then drops out as it does in a full decoded pass. Each window is
decoded on its own: its edges lie in untransformed text, so its text is a
piece of the full decoded text. Where windows would cover most of a chunk
(a page mostly in non-ASCII text) the view turns into a full decoded pass
from there on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache

from .matcher import Matcher
from .views import ByteReferences, Decoded, View, needs_decoding

#: Spans are found on the page bytes with every byte decoding may change
#: turned into 0x80 (`&` always, the non-ASCII bytes on UTF-8 pages): a
#: pattern that starts with one literal byte is searched far faster by `re`
#: than one that starts with a class or an alternation. A span is that byte
#: and what may follow it in a reference (html.unescape changes `&`, the
#: entity name, all letters and digits, and `;`).
_MARK = 0x80
_UTF8_MARKS = bytes(c if c < 0x80 and c != 0x26 else _MARK for c in range(256))
_REF_MARKS = bytes(_MARK if c == 0x26 else 0x81 if c == _MARK else c for c in range(256))
_SPAN = rb"\x80[#0-9A-Za-z\x80]*;?"
#: Joins the windows of a chunk for one decode and one automaton run where no
#: key holds it: decoding never makes one (html.unescape turns `&#0;` into
#: U+FFFD), so no match crosses it.
_SEP = b"\x00"
#: Windows covering more than this share of a chunk: a full pass is cheaper.
_DENSE = 0.5
#: Window bytes kept for a possible exact count before they are read at once.
_MAX_KEPT = 64 * 1024
#: An unfinished reference may start this far before a chunk's end.
_REF_TAIL = 140


@lru_cache(maxsize=8)
def _clusters(reach: int) -> re.Pattern[bytes]:
    """The span cluster finder.

    Spans less than `2 * reach` bytes apart are one cluster, found in one
    regex pass rather than span by span: a page may hold hundreds of them.
    The gap is possessive, so a gap too long fails without backtracking.
    """
    return re.compile(_SPAN + b"(?:[^\x80]{0,%d}+" % (2 * reach) + _SPAN + b")*")


_SPACE_RUN = re.compile(b"  +")


@lru_cache(maxsize=8)
def _space_runs(table: bytes) -> re.Pattern[bytes]:
    """Runs of two or more bytes the table maps to a space, but for `& # ;`,
    which may belong to a reference."""
    spaces = bytes(c for c in range(256) if table[c] == 0x20 and c not in b"&#;")
    return re.compile(b"[" + re.escape(spaces) + b"]{2,}")


def _fold(text: bytes) -> bytes:
    return _SPACE_RUN.sub(b" ", text) if b"  " in text else text


def _no_spaces(sub: bytes, start: int, end: int) -> int:
    return 0


class WindowedView:
    """The decoded view's keys in singular mode; see the module docstring.

    `feed` takes what the twin was fed (the smart pass's stripped bytes, or
    the raw bytes in raw-only mode), after the twin has read it.
    """

    __slots__ = ("name", "utf8", "twin", "_matcher", "_table", "_twin_table", "_sep_table",
                 "_sep_twin_table", "_joinable", "_decode", "_new_text", "_smart", "_reach",
                 "_clusters", "_marks", "_pending", "_at_start", "found", "_twin_pending",
                 "_twin_pending_bytes",
                 "_twin_found", "_full", "_full_text", "_twin_base")

    extra = True

    def __init__(
        self,
        twin: View,
        matcher: Matcher,
        reach: int,
        table: bytes,
        new_text: Callable[[], Decoded | ByteReferences],
        *,
        smart: bool,
        utf8: bool,
        joinable: bool = True,
    ) -> None:
        self.name = "decoded"
        self.utf8 = utf8
        self.twin = twin
        self._joinable = joinable
        self._matcher = matcher
        self._table = table
        self._twin_table = twin.table
        self._sep_table = table[:0] + _SEP + table[1:]
        self._sep_twin_table = twin.table[:0] + _SEP + twin.table[1:]
        self._new_text = new_text
        self._decode = new_text().whole
        self._smart = smart
        self._reach = reach = max(1, reach)  # the longest key
        self._clusters = _clusters(reach).finditer
        self._marks = _UTF8_MARKS if utf8 else _REF_MARKS
        self._pending = b""  # carried: context before the next chunk, or an open window
        self._at_start = True  # _pending starts the page
        #: keys found in the windows' decoded text
        self.found: Counter[int] = Counter()
        #: windows not yet read as the twin reads them: (pieces, lead, last)
        self._twin_pending: list[tuple[list[bytes], bool, bool]] = []
        self._twin_pending_bytes = 0
        self._twin_found: Counter[int] = Counter()
        self._full: View | None = None
        self._full_text: Decoded | ByteReferences | None = None
        self._twin_base: Counter[int] | None = None  # twin counts before the full pass began

    # -- feeding ---------------------------------------------------------

    def feed(self, data: bytes, twin_found: Iterable[int] = (), final: bool = False) -> None:
        if self._full is not None:
            assert self._full_text is not None
            self._full.scan_mapped(self._full_text.feed(data, final).translate(self._table))
            return
        buf = self._pending + data if self._pending else data
        if not buf:
            return
        if self._utf8_or_ref(buf):
            spans = [m.span() for m in self._clusters(buf.translate(self._marks))]
        else:
            spans = []
        n = len(buf)
        windows, open_from, clean = self._windows(buf, spans, final)
        if not final and n > 8 * self._reach:
            covered = sum(e - s for s, e in windows) + (n - open_from if open_from >= 0 else 0)
            if covered > _DENSE * n:
                self._go_full(buf, windows[0][0] if windows else open_from)
                return
        if windows:
            self._scan(buf, windows, final)
        if open_from >= 0:
            self._carry(buf, open_from)
        elif final:
            self._pending = b""
        else:
            self._keep_context(buf, clean)

    def finish(self) -> None:
        self.feed(b"", final=True)

    def _utf8_or_ref(self, buf: bytes) -> bool:
        return b"&" in buf or (self.utf8 and not buf.isascii())

    def _windows(self, buf: bytes, spans: list[tuple[int, int]],
                 final: bool) -> tuple[list[tuple[int, int]], int, int]:
        """Windows closed in `buf`, where an open one starts (-1: none), the last span's end.

        Each edge is first put a little over `reach` bytes from its span and
        moved out while the bytes between hold fewer than `reach` non-space
        ones: counting spaces is one C call, where a regex walking token by
        token costs far more.
        """
        if not spans:
            return [], -1, 0
        # the raw pass keeps space runs: there every byte counts
        spaces = buf.translate(self._table).count if self._smart else _no_spaces
        n = len(buf)
        reach = self._reach
        step = reach + (reach >> 2) + 2
        windows: list[tuple[int, int]] = []
        clean = 0
        for a, b in spans:
            start, grow = max(a - step, 0), reach
            solid = a - start - spaces(b" ", start, a)
            while start > 0 and solid < reach:  # space runs: look further, ever further
                further = max(start - grow, 0)
                solid += start - further - spaces(b" ", further, start)
                start, grow = further, grow * 2
            end, grow = min(b + step, n), reach
            solid = end - b - spaces(b" ", b, end)
            while end < n and solid < reach:
                further = min(end + grow, n)
                solid += further - end - spaces(b" ", end, further)
                end, grow = further, grow * 2
            if end >= n:
                # the chunk ends within reach (its last byte may be the page's,
                # which the twin never scans)
                if not final:
                    if windows and windows[-1][1] >= start:
                        start = windows.pop()[0]
                    return windows, start, clean
                end = n
            if windows and windows[-1][1] >= start:
                start = windows.pop()[0]
            windows.append((start, end))
            clean = b
        return windows, -1, clean

    def _carry(self, buf: bytes, start: int) -> None:
        self._at_start = self._at_start and start == 0
        pending = buf[start:]
        if self._smart and len(pending) > 4 * self._reach:
            # a run of bytes that read as spaces is one space in the smart pass
            # (references aside): what is carried from chunk to chunk stays
            # small on a page of white space or NULs
            pending = _space_runs(self._table).sub(b" ", pending)
        self._pending = pending

    def _keep_context(self, buf: bytes, clean: int) -> None:
        """Keep the untransformed tail a window of the next chunk may reach back into."""
        n = len(buf)
        reach = self._reach
        cut = max(n - _REF_TAIL - reach, clean)
        if self._smart:
            tail = buf[cut:].translate(self._table)
            solid, grow = len(tail) - tail.count(b" "), reach
            while cut > clean and solid < reach + _REF_TAIL:
                further = max(cut - grow, clean)
                more = buf[further:cut].translate(self._table)
                solid += len(more) - more.count(b" ")
                cut, grow = further, grow * 2
        self._carry(buf, cut)

    def _scan(self, buf: bytes, windows: list[tuple[int, int]], final: bool) -> None:
        pieces = [buf[s:e] for s, e in windows]
        lead = self._smart and self._at_start and windows[0][0] == 0
        last = self._smart and final and windows[-1][1] == len(buf)
        found = self.found
        for text in self._read(pieces, self._decode, self._table, self._sep_table, lead, last):
            if text:
                found.update(self._matcher.stream().feed(text))
        # the twin's reading of the windows is only needed for an exact count;
        # past a bound it is made at once, so a long page keeps no copy of them
        self._twin_pending.append((pieces, lead, last))
        self._twin_pending_bytes += sum(map(len, pieces))
        if self._twin_pending_bytes > _MAX_KEPT:
            self._read_twin_windows()

    def _read_twin_windows(self) -> None:
        for pieces, lead, last in self._twin_pending:
            for text in self._read(pieces, None, self._twin_table, self._sep_twin_table,
                                   lead, last):
                if text:
                    self._twin_found.update(self._matcher.stream().feed(text))
        self._twin_pending.clear()
        self._twin_pending_bytes = 0

    def _read(self, pieces: list[bytes], transform: Callable[[bytes], bytes] | None,
              table: bytes, sep_table: bytes, lead: bool, last: bool) -> list[bytes]:
        """The windows as one view reads them: transformed, mapped, folded."""
        if self._joinable and not any(_SEP in p for p in pieces):
            joined = _SEP.join(pieces)
            out = [(transform(joined) if transform else joined).translate(sep_table)]
        else:
            out = [(transform(p) if transform else p).translate(table) for p in pieces]
        if self._smart:
            if lead:
                out[0] = b" " + out[0]  # the smart pass starts with one space
            out = list(map(_fold, out))
            if last:
                out[-1] = out[-1][:-1]  # e2guardian never scans the last byte
        return out

    def _go_full(self, buf: bytes, start: int) -> None:
        """Windows would cover most of the page: a full decoded pass from `start` on."""
        rest = buf[start:]
        at_start = self._at_start and start == 0
        # the twin's counts before `start`: its counts now, less its reading of the rest
        # (a match across `start` is `reach` bytes from any span: untransformed)
        base = self.twin.counts.copy()
        rest_twin = rest.translate(self._twin_table)
        if self._smart:
            # as the twin reads it, but for the last byte it holds back
            rest_twin = _fold(b" " + rest_twin if at_start else rest_twin)[:-1]
        base.subtract(self._matcher.stream().feed(rest_twin))
        self._twin_base = +base
        self._full = View("decoded", self._matcher, self._table, smart=self._smart, extra=True,
                          utf8=self.utf8, at_start=at_start)
        self._full_text = self._new_text()
        self._pending = b""
        self.feed(rest)

    # -- reading ----------------------------------------------------------

    def keys(self, needs_exact: Callable[[set[int], Counter[int]], bool]) -> Counter[int] | None:
        """The view's keys (automaton keys) with a count each; None: the twin's.

        `needs_exact(new, twin)` says whether keys destroyed by decoding can
        matter, given the keys the windows found that the twin did not and
        the twin's counts.
        """
        twin = self._twin_base if self._twin_base is not None else self.twin.counts
        found = self.found
        if self._full is not None:
            found = found + self._full.counts
        new = {k for k in found if k not in twin}
        if not needs_exact(new, twin):
            if not new and self._twin_base is None:
                return None
            merged = twin.copy()
            merged.update(dict.fromkeys(new, 1))
            return merged
        self._read_twin_windows()
        seen = self._twin_found
        out = Counter({k: c - seen[k] for k, c in twin.items() if c > seen[k]})
        for k, c in found.items():
            out[k] = max(out[k], c)
        return out

    def new_keys(self) -> Counter[int]:
        """Keys the windows (or the full pass) found: enough to see a banned entry early."""
        return self.found + self._full.counts if self._full is not None else self.found


class FullDecodedView:
    """The decoded view read in full: weighted_mode "count" needs every occurrence.

    Where a chunk reads exactly as the twin's (no reference and, on UTF-8
    pages, no non-ASCII byte), the twin's state and matches are copied
    instead of scanning it again.
    """

    __slots__ = ("name", "utf8", "_view", "_text", "twin")

    extra = True

    def __init__(self, twin: View, matcher: Matcher, table: bytes,
                 text: Decoded | ByteReferences, *, smart: bool, utf8: bool,
                 in_sync: bool) -> None:
        self.name = "decoded"
        self.utf8 = utf8
        self.twin = twin
        self._text = text
        self._view = View("decoded", matcher, table, smart=smart, extra=True, utf8=utf8)
        self._view.in_sync = in_sync

    def feed(self, data: bytes, twin_found: Iterable[int] = ()) -> None:
        view = self._view
        if view.in_sync and not needs_decoding(data, self.utf8):
            view.take_state_of(self.twin, twin_found)
            return
        view.scan_mapped(self._text.feed(data).translate(view.table))
        view.in_sync = self._text.idle and view.same_state_as(self.twin)

    def finish(self) -> None:
        self._view.scan_mapped(self._text.feed(b"", final=True).translate(self._view.table))

    def keys(self, needs_exact: Callable[[set[int], Counter[int]], bool]) -> Counter[int] | None:
        return self._view.counts

    def new_keys(self) -> Counter[int]:
        return self._view.counts


DecodedPass = WindowedView | FullDecodedView
