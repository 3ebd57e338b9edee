"""What a request gets when the filter cannot judge it.

A URL no list can parse and a list store that does not answer get ``[store]
on_error`` (block by default: anyone can craft an unparseable URL, so it
must not pass unfiltered). A body that cannot be scanned is always blocked:
whatever made the scanner fail is in the response, which the origin
controls, so allowing it would turn any such body into a way around the
filter. The faults are counted for statistics and logged at most once a
minute, never once per request.
"""

from __future__ import annotations

import logging
import threading
import time

from ..content.decoding import DecodeRefused
from ..urls.errors import InvalidUrl, StoreUnavailable
from ..verdict import Verdict
from .groups import Group

log = logging.getLogger("icapfilter.policy")

#: The category of a URL blocked because it cannot be parsed.
UNPARSEABLE = "unparseable-url"
ON_ERROR = ("block", "allow")


class OnceLogger:
    """Logs a recurring fault once, then at most once a minute (not per request)."""

    def __init__(self, interval: float = 60.0, level: int = logging.ERROR) -> None:
        self.interval = interval
        self.level = level
        self._last = 0.0
        self._suppressed = 0
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        extra = f" ({suppressed} more since the last report)" if suppressed else ""
        log.log(self.level, "%s%s", message, extra)


def unparseable_verdict(on_error: str, group: Group, exc: InvalidUrl) -> Verdict | None:
    """A block under ``on_error = "block"``, else None (the URL is on no list)."""
    if on_error == "allow":
        return None
    return Verdict.block(f"unparseable URL ({exc})", UNPARSEABLE, group=group.name)


def store_down_verdict(on_error: str, group: Group, *, scanning: bool = False) -> Verdict | None:
    """The verdict while the list store does not answer.

    With ``scanning`` (a response whose body can still be scanned), failing
    open gives None, so phrase scanning, which needs no store, still
    protects the page.
    """
    if on_error == "allow":
        if scanning:
            return None
        return Verdict.allow("list store unavailable (failing open)", group=group.name)
    return Verdict.block("the filter's list store is unavailable (failing closed)",
                         "filter-unavailable", group=group.name, status=503)


class FailurePolicy:
    """``on_error`` with its counters and rate-limited logs, one per policy."""

    def __init__(self, on_error: str = "block") -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}; got {on_error!r}")
        self.on_error = on_error
        self.store_faults = 0
        self.unparseable = 0
        self._store_log = OnceLogger()
        self._unparseable_log = OnceLogger(level=logging.WARNING)

    def unparseable_url(self, group: Group, url: str, exc: InvalidUrl) -> Verdict | None:
        self.unparseable += 1
        self._unparseable_log(f"unparseable URL {url[:200]!r}: {exc}; "
                              f"applying on_error={self.on_error}")
        return unparseable_verdict(self.on_error, group, exc)

    def store_unavailable(self, group: Group, exc: StoreUnavailable, *,
                          scanning: bool = False) -> Verdict | None:
        self.store_faults += 1
        self._store_log(f"list store unavailable, applying on_error={self.on_error}: {exc}")
        return store_down_verdict(self.on_error, group, scanning=scanning)

    def limiter_unavailable(self, exc: StoreUnavailable) -> None:
        """A rate limiter that cannot count lets the request through (logged)."""
        self._store_log(f"rate limiter unavailable: {exc}")

    def gauges(self) -> dict[str, float]:
        return {"icapfilter_store_faults_total": float(self.store_faults),
                "icapfilter_unparseable_urls_total": float(self.unparseable)}


_scan_fault = OnceLogger()


def scan_failed(group: Group, exc: BaseException | str) -> Verdict:
    """The verdict for a body that could not be scanned: always a block; a
    refused encoding is the body's fault (not logged), anything else a bug."""
    if isinstance(exc, DecodeRefused):
        detail = str(exc)
    else:
        detail = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        _scan_fault(f"scan failed, response blocked: {detail}")
    return Verdict.block(f"scan error: {detail}", "scan-error", group=group.name)
