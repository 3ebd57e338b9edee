"""One ICAP message exchange as a sans-IO machine (RFC 3507).

:meth:`Exchange.run` is a generator driven purely by data, in the manner of
h11's ``Connection``: it yields commands (:class:`Send` these bytes,
:class:`Receive` more, :data:`EXPECT` the client's body soon, :class:`Pause`)
and is sent the bytes that arrived (``b""`` at end of stream) in answer to
``Receive``. It returns whether the connection may carry another message, and
raises :class:`IcapProtocolError` (with the status to answer) on bad input.
The server moves the bytes, parks on would-block and keeps the clock; the
policy is reached through :class:`Judge`. Nothing here does I/O.

The flows, and why:

* Preview (4.5): a final answer inside the preview ends the message, but the
  rest of the preview's chunks are still read; ``ieof`` means the preview was
  the whole body, so no ``100 Continue`` is asked for.
* ``204`` when the client allowed it (``Allow: 204``) or inside a preview,
  else the message is echoed with ``200``.
* Squid 5.7 sends about 64 KB of a RESPMOD body and then waits for the answer
  to start (Squid bug 5352). So a body is held only up to ``hold_bytes``: a
  page decided within that is answered as a whole (204, echo, block page);
  past that the answer starts, the held chunks go out and the rest streams
  while the scan goes on. A page found blocked after its answer started is
  aborted: no last chunk, and the connection closes (a late block), so Squid
  ends the client's transfer as incomplete. See docs/squid.md.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Generic, cast

from . import render
from .commands import (
    BODY,
    EXPECT,
    HEAD,
    Command,
    ConnectionClosed,
    Expect,
    Pause,
    Receive,
    Send,
    Steps,
)
from .errors import IcapProtocolError
from .judge import BodyScan, Decision, Judge, V, is_scan
from .messages import IcapRequest
from .parse import attach_heads, heads_length, parse_icap_head
from .reading import MessageReader
from .service import SERVICES, ProtocolSettings, options_response

__all__ = ["BODY", "EXPECT", "HEAD", "BodyScan", "Command", "ConnectionClosed", "Decision",
           "Exchange", "Expect", "Judge", "Pause", "Receive", "Send", "Steps"]


class Exchange(MessageReader, Generic[V]):
    """One ICAP message on a connection: read it, judge it, answer it.

    ``buffer`` holds the connection's unread bytes; bytes past this message
    stay in it for the next one. After :meth:`run` (returned or raised), the
    attributes say what happened, for the access log.
    """

    __slots__ = ("judge", "software", "request", "status", "verdict", "late", "answered",
                 "page_bytes")

    def __init__(self, buffer: bytearray, judge: Judge[V], settings: ProtocolSettings,
                 software: str = "icapfilter") -> None:
        super().__init__(buffer, settings)
        self.judge: Judge[V] = judge
        self.software = software
        self.request: IcapRequest | None = None
        self.status = 0
        self.verdict: V | None = None
        self.late = False  # blocked after the answer had started
        self.answered = False  # bytes went out: an error can only close now
        self.page_bytes = 0  # body bytes of the block page sent, for the access log

    # -- entry point -------------------------------------------------------

    def run(self) -> Steps:
        """Read and answer one message; returns keep-alive."""
        limits = self.settings.limits
        head = yield from self._read_head(limits.max_head_bytes)
        request = self.request = parse_icap_head(head, limits)
        kind = SERVICES.get(request.service)
        if kind is None:
            raise IcapProtocolError(f"no service {request.service!r}", 404)
        if request.method == "OPTIONS":
            if request.has_body:
                self._open_body()
                yield from self._drain(limit=None)
            yield self._out(options_response(kind, self.settings, self.judge.istag,
                                                   self.software))
            self.status = 200
            return request.keep_alive
        if request.method != kind:
            raise IcapProtocolError(f"{request.method} not allowed for {request.service}", 405)
        heads = yield from self._read_exact(heads_length(request))
        request = self.request = attach_heads(request, heads, limits)
        if request.has_body:
            self._open_body()
            yield EXPECT
            self.in_preview = request.preview is not None
        keep = yield from (self._reqmod() if kind == "REQMOD" else self._respmod())
        return keep and request.keep_alive

    def _continue_after_preview(self) -> Generator[Command, bytes | None, None]:
        if self.in_preview and not self.complete:
            yield self._out(render.CONTINUE)
            yield EXPECT
            self._open_body()
        self.in_preview = False

    def _finish_reading(self) -> Generator[Command, bytes | None, bool]:
        """Consume what is left so the connection can carry the next message."""
        if self.complete:
            return True
        if self.in_preview:
            # A final answer inside the preview ends the message (RFC 3507 4.5),
            # but the rest of the preview's chunks are still on the wire.
            yield from self._read_preview()
            return True
        ok = yield from self._drain(self.settings.drain_bytes)
        self.complete = ok
        return ok

    # -- answering ---------------------------------------------------------

    def _out(self, data: bytes) -> Send:
        """The command to send ``data`` (never empty); from then on an error
        can only close the connection."""
        self.answered = True
        return Send(data)

    def _headers(self, verdict: V | None = None) -> list[tuple[str, str]]:
        result = [("ISTag", self.judge.istag), ("Server", self.software)]
        if verdict is not None and verdict.blocked:
            result.append(("X-Icapfilter-Verdict", "block"))
            if verdict.category:
                result.append(("X-Icapfilter-Category", header_safe(verdict.category)))
            if verdict.reason:  # for Squid's access log: %{X-Icapfilter-Reason}adapt::<last_h
                result.append(("X-Icapfilter-Reason", header_safe(verdict.reason)))
        return result

    def _answer_204(self) -> Steps:
        ok = True if self.complete else (yield from self._finish_reading())
        yield self._out(render.icap_response(204, self._headers()))
        self.status = 204
        return ok

    def _answer_block(self, verdict: V) -> Steps:
        assert self.request is not None
        page = self.judge.block_page(self.request, verdict)
        self.page_bytes = len(page)
        http_head = render.http_response_head(verdict.status, [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page))),
            ("Cache-Control", "no-store"),
            ("X-Icapfilter-Category", header_safe(verdict.category or "-")),
        ])
        # Answer first, then drop the rest of the body: Squid 5.7 stops sending
        # the body after about 64 KB until the answer has started.
        answer = render.icap_response(200, self._headers(verdict), res_hdr=http_head, body=True)
        delay = self.settings.reqmod_block_last_chunk_delay
        if self.request.method == "REQMOD" and delay > 0:
            yield self._out(answer + render.chunk(page))
            yield Pause(delay)
            yield self._out(render.LAST_CHUNK)
        else:
            yield self._out(answer + render.chunk(page) + render.LAST_CHUNK)
        self.status = 200
        self.verdict = verdict
        return (yield from self._finish_reading())

    def _start_echo(self, held: list[bytes],
                    request_head: bytes | None = None) -> Generator[Command, bytes | None, None]:
        """Start a 200 answer that carries the original message back, unchanged
        but for ``request_head`` (REQMOD) when given."""
        request = self.request
        assert request is not None
        body = self._decoder is not None
        if request.method == "REQMOD":
            assert request.http_request is not None
            head = render.icap_response(200, self._headers(),
                                        req_hdr=request_head or request.http_request.raw,
                                        body=body)
        else:
            assert request.http_response is not None
            head = render.icap_response(200, self._headers(),
                                        res_hdr=request.http_response.raw, body=body)
        yield self._out(head + b"".join(render.chunk(piece) for piece in held))
        self.status = 200

    def _echo_rest(self) -> Generator[Command, bytes | None, None]:
        """Stream the rest of the body through, then end it."""
        if self._decoder is None:
            return
        yield from self._continue_after_preview()
        while not self.complete:
            data = yield from self._next_data()
            if data is not None:
                yield self._out(render.chunk(data))
        yield self._out(render.LAST_CHUNK)

    def _allow(self, held: list[bytes]) -> Steps:
        assert self.request is not None
        if self.in_preview or self.request.allows(204):
            return (yield from self._answer_204())
        yield from self._start_echo(held)
        yield from self._echo_rest()
        return True

    # -- flows -------------------------------------------------------------

    def _reqmod(self) -> Steps:
        assert self.request is not None
        verdict = self.verdict = self.judge.decide_request(self.request)
        if verdict.blocked:
            return (yield from self._answer_block(verdict))
        head = self._adapted_request_head(verdict)
        if head is None:
            return (yield from self._allow([]))
        return (yield from self._answer_adapted_request(head))

    def _adapted_request_head(self, verdict: V) -> bytes | None:
        """The request head with the verdict's changes (headers, the query
        string), or None when there is nothing to change (then a 204 does)."""
        assert self.request is not None
        http = self.request.http_request
        if http is None:
            return None
        present = [name for name in verdict.drop_request_headers if name in http.headers]
        query = verdict.rewrite_query
        if not verdict.set_request_headers and not present and query is None:
            return None
        return render.rewrite_http_head(http.raw, present, verdict.set_request_headers, query)

    def _answer_adapted_request(self, head: bytes) -> Steps:
        """A 200 with the changed request head and the body echoed (streamed)."""
        held: list[bytes] = []
        if self.in_preview:
            while (data := (yield from self._next_data())) is not None:
                held.append(data)
            self.preview_read = True
            yield from self._continue_after_preview()
        yield from self._start_echo(held, head)
        yield from self._echo_rest()
        return True

    def _respmod(self) -> Steps:
        request = self.request
        assert request is not None
        decision = self.judge.begin_response(request)
        if is_scan(decision):
            return (yield from self._scan_response(decision))
        verdict = self.verdict = cast(V, decision)
        if verdict.blocked:
            # Read the preview before answering: a replacement that reaches
            # Squid 5.7 before it has sent the whole preview of a body larger
            # than its buffer sometimes turns into HTTP 502 ERR_READ_ERROR
            # instead of the block page (tests/integration/test_squid_early_block.py).
            yield from self._read_preview()
            return (yield from self._answer_block(verdict))
        return (yield from self._allow([]))

    def _scan_response(self, scan: BodyScan[V]) -> Steps:
        assert self.request is not None
        # With Allow: 204 the answer is a 204 or a block page, never an echo, so
        # nothing is kept (Squid offers it only for a body it has backed up,
        # under 64 KB, so reading on cannot stall it).
        keep = not self.request.allows(204)
        held: list[bytes] = []
        held_bytes = 0
        hold = self.settings.hold_bytes
        # Phase 1: hold the body (preview first) until the verdict is known or
        # the hold limit is reached.
        while not self.complete and not scan.certain and (held_bytes <= hold or not keep):
            data = yield from self._next_data()
            if data is None:
                if self.complete:
                    break
                yield from self._continue_after_preview()
                continue
            scan.feed(data)
            if keep:
                held.append(data)
                held_bytes += len(data)
        if self.complete or scan.certain:
            verdict = self.verdict = scan.finish()
            if verdict.blocked:
                return (yield from self._answer_block(verdict))
            if not self.complete and keep:
                # Scanning is over (limit reached): pass the rest through untouched.
                yield from self._start_echo(held)
                yield from self._echo_rest()
                return True
            return (yield from self._allow(held))
        # The answer must start now (Squid 5.7 sends no more until it does):
        # judge the page on what was read so far.
        verdict = scan.provisional()
        if verdict.blocked:
            self.verdict = verdict
            return (yield from self._answer_block(verdict))
        # Phase 2: answer now and stream, still scanning.
        yield from self._start_echo(held)
        yield from self._continue_after_preview()
        while not self.complete:
            data = yield from self._next_data()
            if data is None:
                continue
            if not scan.certain:
                scan.feed(data)
                verdict = scan.finish() if scan.certain else scan.provisional()
                if verdict.blocked:
                    return self._late_block(verdict)
            yield self._out(render.chunk(data))
        verdict = scan.finish()
        if verdict.blocked:
            return self._late_block(verdict)
        yield self._out(render.LAST_CHUNK)
        self.verdict = verdict
        return True

    def _late_block(self, verdict: V) -> bool:
        """A page found blocked after its answer started: the last chunk is
        never sent and the connection is closed (returns False), so Squid
        aborts the client's transfer instead of delivering a page cut short
        that looks complete."""
        self.verdict = verdict
        self.late = True
        return False


def header_safe(value: str) -> str:
    """``value`` as one printable ASCII header value of at most 120 characters."""
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in value)[:120]
