"""Squid ``external_acl_type`` helper protocol, without I/O.

``icapfilter squid-helper`` answers Squid's external ACL lookups with the same
URL decisions the ICAP server makes in REQMOD (``FilterPolicy.decide_request``),
and with learned mode the page verdicts RESPMOD learned: Squid then needs no
ICAP transaction for a URL decision, nor for a page already scanned.
This module turns Squid's request lines into :class:`HelperRequest` values and
verdicts into reply lines; :func:`answer` ties them to a policy and
:func:`serve` to file descriptors. See docs/squid-helper.md.

The lines Squid sends are the expanded ``%>a %un %URI`` format (client
address, user name or ``-``, URL), each field %-encoded (``quote=url``, Squid's
default), followed by the ``acl ... external`` line's argument (Squid 5's
``%DATA``, ``-`` when there is none), preceded by a channel ID when the
helper runs with ``concurrency=N`` (N > 0). The argument is the question:

- none (or ``blocked``): must the request be blocked? The ACL is used in
  ``http_access deny``. ``[ID] OK message="..." tag="..."`` blocks, ``[ID] ERR``
  allows.
- ``learned-clean``: was the page at this URL already scanned and found clean
  (learned mode)? The ACL is used in ``adaptation_access <respmod service>
  deny``, so Squid skips RESPMOD for it. ``OK`` means learned clean; ``ERR``
  anything else (not learned, learned blocked, store unreachable), so a doubt
  always ends in a scan.

``[ID] BH message="..."`` answers a line that could not be read.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from .policy import Client, Policy, RequestInfo
from .verdict import Verdict

log = logging.getLogger("icapfilter.squidhelper")

# No request headers reach an external ACL helper: decide_request gets an empty set.
_NO_HEADERS: dict[str, str] = {}
FIELDS = 3  # %>a %un %URI
BLOCKED = "blocked"
LEARNED_CLEAN = "learned-clean"
QUESTIONS = (BLOCKED, LEARNED_CLEAN)


class MalformedLine(ValueError):
    """A line that is not ``[ID] IP USER URL``; answered with BH, never fatal.
    ``channel`` is the ID to echo in that reply (None when there is none)."""

    def __init__(self, message: str, channel: str | None = None) -> None:
        super().__init__(message)
        self.channel = channel


@dataclass(frozen=True, slots=True)
class HelperRequest:
    channel: str | None  # the concurrency channel ID, echoed in the reply
    ip: str | None
    user: str | None
    url: str
    question: str = BLOCKED  # the acl line's argument: one of QUESTIONS


def _decode(field: bytes) -> str | None:
    """A %-encoded field as Squid sends it (``quote=url``); ``-`` means empty."""
    if field == b"-":
        return None
    return unquote_to_bytes(field).decode("utf-8", "surrogateescape")


def split_channel(line: bytes, concurrency: bool | None) -> tuple[str | None, list[bytes]]:
    """The channel ID (if any) and the remaining fields of one line.

    ``concurrency`` None auto-detects: a first field of ASCII digits only is a
    channel ID, since a client address (``%>a``) never is. True always takes
    the first field as the ID (Squid's ``concurrency=N``, N > 0), False never.
    """
    fields = line.split()
    if not fields:
        return None, fields
    first = fields[0]
    if concurrency or (concurrency is None and first.isdigit() and first.isascii()):
        return first.decode("ascii", "replace"), fields[1:]
    return None, fields


def parse_line(line: bytes, concurrency: bool | None = None) -> HelperRequest:
    """One request line (without its newline) as a :class:`HelperRequest`.

    Raises :class:`MalformedLine` for anything Squid would not send.
    """
    channel, fields = split_channel(line.rstrip(b"\r"), concurrency)
    if len(fields) < FIELDS:
        raise MalformedLine(f"expected {FIELDS} fields (%>a %un %URI), got {len(fields)}",
                            channel)
    # Squid appends the acl line's arguments (%DATA, "-" when there are none)
    # after the format's fields: the question asked.
    ip, user, url = (_decode(f) for f in fields[:FIELDS])
    if not url:
        raise MalformedLine("empty URL", channel)
    data = [d for d in (_decode(f) for f in fields[FIELDS:]) if d]
    if len(data) > 1 or (data and data[0] not in QUESTIONS):
        raise MalformedLine(f"unknown acl argument {' '.join(data)!r}; expected none, "
                            + " or ".join(QUESTIONS), channel)
    return HelperRequest(channel, ip, user, url, data[0] if data else BLOCKED)


def quote_value(value: str) -> str:
    """A kv-pair value as Squid's helper reply parser reads it: double-quoted,
    backslash and double quote escaped, and on one line (a newline would end
    the reply)."""
    clean = " ".join(value.replace("\\", "\\\\").replace('"', '\\"').split())
    return f'"{clean}"'


def _line(channel: str | None, text: str) -> bytes:
    return ((f"{channel} " if channel is not None else "") + text + "\n").encode(
        "utf-8", "replace")


def format_verdict(channel: str | None, verdict: Verdict) -> bytes:
    """``OK`` with the reason and category for a block, ``ERR`` for an allow."""
    if not verdict.blocked:
        return _line(channel, "ERR")
    return _line(channel, f"OK message={quote_value(verdict.reason)} "
                          f"tag={quote_value(verdict.category or 'blocked')}")


def format_learned(channel: str | None, verdict: Verdict | None) -> bytes:
    """``OK`` for a page learned clean (Squid skips RESPMOD), ``ERR`` otherwise."""
    if verdict is None or verdict.blocked:
        return _line(channel, "ERR")
    return _line(channel, f"OK message={quote_value(verdict.reason)}")


def format_error(channel: str | None, message: str) -> bytes:
    """``BH``: Squid logs the message and treats this one lookup as failed."""
    return _line(channel, f"BH message={quote_value(message)}")


def answer(policy: Policy, line: bytes, concurrency: bool | None = None) -> bytes:
    """Exactly one reply line for one request line, whatever the line holds."""
    try:
        request = parse_line(line, concurrency)
    except MalformedLine as exc:
        log.warning("squid-helper: malformed line %r: %s", line[:200], exc)
        return format_error(exc.channel, f"icapfilter: {exc}")
    info = RequestInfo(client=Client(ip=request.ip, user=request.user), method="GET",
                       url=request.url, headers=_NO_HEADERS)  # type: ignore[arg-type]
    try:
        if request.question == LEARNED_CLEAN:
            return format_learned(request.channel, policy.learned_page(info))
        return format_verdict(request.channel, policy.decide_request(info))
    except Exception as exc:  # noqa: BLE001 - one bad lookup must not end the helper
        log.exception("squid-helper: no decision for %r", request.url[:200])
        return format_error(request.channel, f"icapfilter: internal error: {exc}")


def answer_many(policy: Policy, lines: list[bytes], concurrency: bool | None = None) -> bytes:
    """The replies to a batch of lines, in order, as one write."""
    return b"".join([answer(policy, line, concurrency) for line in lines])


MAX_LINE = 65536  # bytes; Squid's own URL limit is 8 KiB, a longer line is not Squid's


def serve(policy: Policy, infd: int = 0, outfd: int = 1, concurrency: bool | None = None,
          chunk: int = 65536, max_line: int = MAX_LINE) -> int:
    """Answer lines from ``infd`` until EOF; return the number of lines answered.

    Reads whatever is available (never waits for more input before answering
    the complete lines it has), answers every complete line, and writes all
    their replies at once: Squid with ``concurrency`` sends lines as they come.
    A line longer than ``max_line`` is answered ``BH`` as soon as it is that
    long, and the rest of it, up to its newline, is discarded unread: the
    buffer never holds more than ``max_line + chunk`` bytes.
    """
    pending = bytearray()
    discarding = False  # inside a line already answered as too long
    answered = 0
    while True:
        data = os.read(infd, chunk)
        if not data:
            break
        pending += data
        replies: list[bytes] = []
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            line = bytes(pending[start:end])
            start = end + 1
            if discarding:
                discarding = False
            elif len(line) > max_line:
                replies.append(_too_long(line, concurrency, max_line))
            else:
                replies.append(answer(policy, line, concurrency))
        del pending[:start]
        if discarding:
            pending.clear()
        elif len(pending) > max_line:
            replies.append(_too_long(bytes(pending), concurrency, max_line))
            pending.clear()
            discarding = True
        if replies:
            _write_all(outfd, b"".join(replies))
            answered += len(replies)
    if pending.strip() and not discarding:
        _write_all(outfd, answer(policy, bytes(pending), concurrency))
        answered += 1
    return answered


def _too_long(line: bytes, concurrency: bool | None, max_line: int) -> bytes:
    channel, _ = split_channel(line[:64], concurrency)
    log.warning("squid-helper: line longer than %d bytes: %r...", max_line, line[:100])
    return format_error(channel, "line too long")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
