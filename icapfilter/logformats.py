"""Access-log lines: JSON, Squid's native access.log format, e2guardian's format.

The JSON format has one line per ICAP message. The other two are read by log
analysers (SARG, Calamaris, LightSquid, e2guardian log tools) that count HTTP
transactions, so they have one line per HTTP transaction. Squid sends a page
through REQMOD and then RESPMOD, and no ICAP message names the other, so the
line is written where the HTTP outcome is known:

- a REQMOD block: the transaction ends there (``TCP_DENIED/403``);
- a RESPMOD: the origin's status, size and type are known (``TCP_MISS/200``),
  or the block (``TCP_DENIED/403``), or a block after the page had started
  (``TCP_MISS_ABORTED``);
- a REQMOD that no RESPMOD follows: a ``CONNECT`` (``TCP_TUNNEL/200``) and a
  request marked learned-clean for Squid to skip RESPMOD (``TCP_MISS/000``:
  the status never reaches the filter);
- an ICAP error with a URL: ``NONE_NONE/000`` (Squid bypassed the filter or
  answered its own error page; which one, only Squid's log says).

An allowed REQMOD that RESPMOD follows, and OPTIONS, get no line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from .outcome import Outcome
from .policy.learned import LEARNED_MARK
from .verdict import Verdict

Formatter = Callable[[Outcome, tuple[object, ...], "str | None", float], "str | None"]


def json_line(outcome: Outcome, peer: tuple[object, ...], error: str | None,
              now: float) -> str:
    verdict = outcome.verdict
    record: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
        "icap_client": peer[0] if peer else None,
        "client_ip": outcome.client.ip,
        "user": outcome.client.user,
        "service": outcome.service,
        "method": outcome.method,
        "url": outcome.url,
        "icap_status": outcome.status,
        "verdict": ("error" if error else
                    (verdict.action.value if verdict else "-")) + ("-late" if outcome.late
                                                                   else ""),
        "group": verdict.group if verdict else None,
        "category": verdict.category if verdict else None,
        "reason": error or (verdict.reason if verdict else None),
        "phrases": list(verdict.phrases) if verdict else [],
        "score": verdict.score if verdict else None,
        "bytes": outcome.body_bytes,
        "ms": round(outcome.duration_ms, 2),
        "http_method": outcome.http_method,
        "http_status": outcome.http_status or None,
        "content_type": outcome.content_type or None,
    }
    return json.dumps(record, ensure_ascii=False)


class HttpLine:
    """One HTTP transaction as both text formats see it, or None for a message
    that is not where a transaction's outcome is known (module docstring)."""

    __slots__ = ("tag", "status", "size", "hierarchy", "content_type", "denied")

    def __init__(self, tag: str, status: int, size: int, hierarchy: str, content_type: str,
                 denied: bool) -> None:
        self.tag = tag
        self.status = status
        self.size = size
        self.hierarchy = hierarchy
        self.content_type = content_type
        self.denied = denied

    @classmethod
    def of(cls, outcome: Outcome, error: str | None) -> HttpLine | None:
        verdict = outcome.verdict
        if error:
            if outcome.url == "-" or outcome.method not in ("REQMOD", "RESPMOD"):
                return None
            return cls("NONE_NONE", 0, 0, "HIER_NONE/-", "-", denied=False)
        if outcome.method == "REQMOD":
            if verdict is None:
                return None
            if verdict.blocked:
                return cls("TCP_DENIED", verdict.status, outcome.page_bytes, "HIER_NONE/-",
                           "text/html", denied=True)
            if outcome.http_method == "CONNECT":
                return cls("TCP_TUNNEL", 200, 0, _direct(outcome.url), "-", denied=False)
            if _marked_learned(verdict):  # Squid's ACL skips RESPMOD for it
                return cls("TCP_MISS", 0, 0, _direct(outcome.url), "-", denied=False)
            return None
        if outcome.method != "RESPMOD":
            return None
        if verdict is not None and verdict.blocked:
            if outcome.late:
                return cls("TCP_MISS_ABORTED", outcome.http_status, outcome.body_bytes,
                           _direct(outcome.url), _mime(outcome.content_type), denied=True)
            return cls("TCP_DENIED", verdict.status, outcome.page_bytes, "HIER_NONE/-",
                       "text/html", denied=True)
        return cls("TCP_MISS", outcome.http_status, outcome.body_bytes, _direct(outcome.url),
                   _mime(outcome.content_type), denied=False)


def _marked_learned(verdict: Verdict) -> bool:
    """The request carries the learned-clean mark. Other header changes
    (SafeSearch's YouTube-Restrict) go on to RESPMOD, which logs the line."""
    return any(name == LEARNED_MARK for name, _value in verdict.set_request_headers)


def _direct(url: str) -> str:
    """Squid's ``%Sh/%<a`` of a request that went to the origin (parsed only
    for a line that is written: most ICAP messages get none)."""
    return f"HIER_DIRECT/{_host(url)}"


def _host(url: str) -> str:
    try:
        host = urlsplit(url if "://" in url else f"//{url}").hostname
    except ValueError:
        host = None
    return _token(host) if host else "-"


def _mime(content_type: str) -> str:
    """The type without parameters, as Squid logs ``%mt``."""
    mime = content_type.split(";", 1)[0].strip()
    return _token(mime) if mime else "-"


def _token(value: str) -> str:
    """One space-free field: whitespace and control characters %-encoded."""
    return "".join(f"%{ord(ch):02X}" if ch.isspace() or not ch.isprintable() else ch
                   for ch in value)


def _user(user: str | None) -> str:
    """Squid's ``QuoteUrlEncodeUsername``: the name %-encoded, ``-`` when none."""
    return quote(user, safe="!$&'()*+,;=:@/.-_~") if user else "-"


def squid_line(outcome: Outcome, peer: tuple[object, ...], error: str | None,
               now: float) -> str | None:
    """Squid's native format, byte for byte as src/log/FormatSquidNative.cc writes
    it (``logformat squid %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un
    %Sh/%<a %mt``): end time with milliseconds, elapsed milliseconds (of the
    ICAP message) right-aligned in 6, client, tag/status, bytes, method, URL,
    user, hierarchy/host, MIME type."""
    line = HttpLine.of(outcome, error)
    if line is None:
        return None
    seconds = int(now)
    millis = int((now - seconds) * 1000)
    return (f"{seconds:9d}.{millis:03d} {int(outcome.duration_ms):6d} "
            f"{_token(outcome.client.ip or '-')} {line.tag}/{line.status:03d} {line.size} "
            f"{_token(outcome.http_method)} {_token(outcome.url)} {_user(outcome.client.user)} "
            f"{line.hierarchy} {line.content_type}")


def e2guardian_line(outcome: Outcome, peer: tuple[object, ...], error: str | None, now: float,
                    groups: Sequence[str] = ()) -> str | None:
    """e2guardian 5.3's ``logfileformat = 1`` (its "e2guardian"/DansGuardian
    format), as src/FatController.cpp's log_listener builds it: local time
    ``YYYY.MM.DD HH:MM:SS`` followed by two spaces (what e2guardian 5.3.5
    writes), user, client, URL, what (``*DENIED* reason``, ``*EXCEPTION*
    reason`` or ``-``), method, size, naughtiness, category, group number,
    HTTP status, MIME type, client host, group name, then user agent, URL
    parameters, logid1, logid2 and POST data, which are all ``-`` here."""
    line = HttpLine.of(outcome, error)
    if line is None:
        return None
    verdict = outcome.verdict
    if error:
        what = f"*ERROR* {error}"
    elif verdict is not None and line.denied:
        what = f"*DENIED* {verdict.reason}"
    elif verdict is not None and verdict.reason.startswith("exception list"):
        what = f"*EXCEPTION* {verdict.reason}"
    else:
        what = "-"
    group = verdict.group if verdict else (groups[0] if groups else "default")
    number = groups.index(group) + 1 if group in groups else 1
    client = _token(outcome.client.ip or "-")
    fields = [
        _user(outcome.client.user), client, _token(outcome.url),
        " ".join(_token(word) for word in what.split()),
        _token(outcome.http_method), str(line.size),
        str(verdict.score or 0) if verdict else "0",
        _token(verdict.category) if verdict and verdict.category else "-",
        # e2guardian logs no MIME type for a page it blocked
        str(number), str(line.status), "-" if line.denied else line.content_type, client,
        _token(group),
        "-", "-", "-", "-", "-",
    ]
    return time.strftime("%Y.%m.%d %H:%M:%S", time.localtime(now)) + "  " + " ".join(fields)


FORMATS = ("json", "squid", "e2guardian")


def formatter(name: str, groups: Sequence[str] = ()) -> Formatter:
    """The line function of ``[log] format``."""
    if name == "squid":
        return squid_line
    if name == "e2guardian":
        return lambda outcome, peer, error, now: e2guardian_line(outcome, peer, error, now,
                                                                 groups)
    return json_line
