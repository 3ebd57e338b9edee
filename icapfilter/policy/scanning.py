"""Which responses are phrase-scanned, how a scan starts, and its verdict.

A response is scanned when its group scans and its content type is a
scanned text type, or it has no usable Content-Type (a browser then sniffs
the body, so the scan does too). ``icapfilter scan`` starts its scan with
:meth:`PageScanner.new_scan` as the server does, with the same
:class:`~icapfilter.scan_settings.ScanSettings`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from ..content.sniff import needs_sniffing
from ..content.sniffscan import BodyScanLike, SniffingScan
from ..phrases import BodyScan, PhraseSet, ScanResult
from ..phrases.timed import phrases_at, time_windows
from ..scan_settings import ScanSettings
from ..verdict import Verdict
from .failure import scan_failed
from .groups import Group
from .hook import ResponseInfo

#: Phrases named in a verdict (the access log and block page show them).
SHOWN_PHRASES = 30


class PageScanner:
    """The phrase lists and scan settings of one policy.

    ``phrases`` is the ``[phrases]`` set, which every group without lists of
    its own scans with; ``by_group`` holds the groups' own sets (one object
    per distinct set of files, shared by the groups naming it). ``shared``
    False says ``[phrases]`` names no lists: ``phrases`` is then empty and
    only groups with their own lists are scanned.
    """

    def __init__(self, phrases: PhraseSet, settings: ScanSettings, *,
                 by_group: Mapping[str, PhraseSet] | None = None, shared: bool = True) -> None:
        self.phrases = phrases
        self.settings = settings
        self.by_group = dict(by_group or {})
        self.shared = shared

    def phrases_for(self, group: str) -> PhraseSet | None:
        """The phrase set a group's pages are scanned with; None: not scanned."""
        own = self.by_group.get(group)
        if own is not None:
            return own
        return self.phrases if self.shared else None

    def scans(self, group: str) -> bool:
        return group in self.by_group or self.shared

    @property
    def timed(self) -> bool:
        """Some list has #time: entries (schedules), so a scan depends on the clock."""
        return any(time_windows(p) for p in (self.phrases, *self.by_group.values()))

    def unscanned(self, response: ResponseInfo) -> str | None:
        """Why this response is decided from its heads alone, or None to scan it."""
        if not needs_sniffing(response.content_type) and \
                not self.settings.scannable(response.content_type):
            return "content type not scanned"
        if response.status in (204, 304) or 100 <= response.status < 200:
            return "no body"
        return None

    def new_scan(self, limit: int, content_type: str | None,
                 content_encoding: str | None, *, group: str | None = None,
                 at: datetime | None = None) -> BodyScanLike:
        """The scan of one body with ``group``'s lists (default: ``[phrases]``);
        raises when its encoding chain is refused."""
        phrases = self.phrases if group is None else self.phrases_for(group)
        if phrases is None:
            raise ValueError(f"group {group!r} has no phrase lists")
        if at is not None:  # schedules: #time: entries outside their window are muted
            phrases = phrases_at(phrases, at)
        settings = self.settings

        def typed(as_type: str | None) -> BodyScan:
            return BodyScan(phrases, settings, limit=limit, content_type=as_type,
                            content_encoding=content_encoding)

        if needs_sniffing(content_type):
            return SniffingScan(typed, content_encoding, settings.scannable)
        return typed(content_type)


class PhraseScan:
    """Adapts a body scan to the server's ResponseScan hook.

    A scan that fails (an exception, or a BodyScan that stopped on one) ends
    in a block (see :func:`~.failure.scan_failed`); a verdict reached is
    handed to ``on_finish`` (learned mode).
    """

    def __init__(self, scan: BodyScanLike, group: Group,
                 on_finish: Callable[[Verdict], None]) -> None:
        self._scan = scan
        self._group = group
        self._on_finish = on_finish
        self._failed: Verdict | None = None

    @property
    def certain(self) -> bool:
        return self._failed is not None or self._scan.certain

    def feed(self, data: bytes) -> None:
        if self._failed is not None:
            return
        try:
            self._scan.feed(data)
        except Exception as exc:  # noqa: BLE001 - a body must never crash the server
            self._fail(exc)

    def _fail(self, exc: BaseException | str) -> Verdict:
        if self._failed is None:
            self._failed = scan_failed(self._group, exc)
        return self._failed

    def _judge(self, final: bool) -> Verdict:
        if self._failed is not None:
            return self._failed
        try:
            result = self._scan.finish() if final else self._scan.provisional()
        except Exception as exc:  # noqa: BLE001
            return self._fail(exc)
        error = getattr(self._scan, "error", None)
        if error:
            return self._fail(error)
        return verdict_of_scan(result, self._group.name, self._group.limit)

    def provisional(self) -> Verdict:
        verdict = self._judge(final=False)
        if verdict.blocked and verdict is not self._failed:
            # The server blocks on it (a page too large to hold, blocked from its
            # first part): learned mode must remember it like a finished scan,
            # or such pages are fetched and scanned again on every request.
            self._on_finish(verdict)
        return verdict

    def finish(self) -> Verdict:
        verdict = self._judge(final=True)
        if verdict is not self._failed:
            self._on_finish(verdict)
        return verdict


def verdict_of_scan(result: ScanResult, group: str, limit: int | None = None) -> Verdict:
    shown = tuple(
        f"{hit.phrase} ({hit.list_kind}{'' if hit.list_kind != 'weighted' else f' {hit.weight:+d}'}"
        f"{f' x{hit.count}' if hit.count > 1 else ''})"
        for hit in result.phrases[:SHOWN_PHRASES]
    )
    if result.blocked:
        return Verdict.block(result.reason, result.category or "phrases", group=group,
                             score=result.score, phrases=shown,
                             bytes_scanned=result.bytes_scanned, limit=limit)
    return Verdict.allow(result.reason, group=group, score=result.score, phrases=shown,
                         bytes_scanned=result.bytes_scanned)
