"""One ICAP transaction: read a message, ask the policy, answer (RFC 3507).

Response path and Squid 5.7: Squid 5.7 sends about 64 KB of a RESPMOD body
and then waits for the service to start its answer (Squid bug 5352). So a
body is held only up to ``hold_bytes`` (default 56 KiB): a page decided
within that is answered as a whole (204, echo, or block page); past that the
answer starts, the held chunks go out, and the rest is streamed while the scan
continues. A page found to be blocked after its answer started is aborted: the
connection closes without the last chunk, so Squid ends the client's transfer
as incomplete, and it is logged as a late block. See docs/squid.md.

Every method that reads is a generator: it yields while the client's bytes are
not there yet (:mod:`.stream`), so a pool thread never waits for a client.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import lru_cache

from .. import __version__
from ..blockpage import BlockPage
from ..icap import render
from ..icap.errors import IcapProtocolError
from ..icap.messages import IcapRequest
from ..icap.parse import EndOfBody, Limits, attach_heads, heads_length, parse_icap_head
from ..outcome import Outcome
from ..policy import Client, PolicyHolder, RequestInfo, ResponseInfo
from ..verdict import Verdict
from .stream import ChunkedBody, SocketReader, Wait

Steps = Generator[Wait, None, bool]

log = logging.getLogger("icapfilter.server")

# How long a pool thread waits for a trusted client's body, after the heads and
# after 100 Continue, before it parks the message (see SocketReader.expect).
EXPECT_BODY = 0.05

SERVICES = {"reqmod": "REQMOD", "respmod": "RESPMOD", "request": "REQMOD", "response": "RESPMOD"}


@dataclass(frozen=True, slots=True)
class ProtocolSettings:
    """What the transaction layer needs to know; built from the configuration."""

    limits: Limits = Limits()
    max_connections: int = 500
    options_ttl: int = 300
    preview: int = 4096
    transfer_preview: str = "*"
    # Empty by default: Squid matches Transfer-Ignore against the URL, which the
    # client controls (page.html?x=.png would skip RESPMOD). Images and other
    # unscanned types are answered 204 at preview by their Content-Type.
    transfer_ignore: str = ""
    transfer_complete: str = "html, htm, shtml, xhtml"
    hold_bytes: int = 56 * 1024
    drain_bytes: int = 4 * 1024 * 1024
    # Seconds between a REQMOD block page's body and its last chunk (0 = one
    # write). Squid 5.7 closes the client connection after a REQMOD reply
    # whose body and end it reads at once (Squid bug 5187, docs/squid.md).
    reqmod_block_last_chunk_delay: float = 0.0


@lru_cache(maxsize=64)
def istag_for(generation: str) -> str:
    """A quoted ISTag of at most 32 characters that changes with the generation."""
    clean = "".join(ch for ch in generation if ch.isalnum() or ch in "-._")[:28]
    return f'"if-{clean or "0"}"'


def _client_of(request: IcapRequest) -> Client:
    user = request.headers.get("X-Client-Username") or request.headers.get("X-Authenticated-User")
    if user:
        user = _maybe_base64(user.strip())
    return Client(ip=(request.headers.get("X-Client-IP") or "").strip() or None, user=user)


def _maybe_base64(value: str) -> str:
    # Squid base64-encodes the name with icap_client_username_encode on, and c-icap's
    # X-Authenticated-User convention is "Local://name" base64-encoded.
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value
    if decoded.isprintable() and len(value) % 4 == 0 and len(value) >= 8:
        return decoded.split("://", 1)[-1]
    return value


class Transaction:
    """Handles one ICAP message on a connection; ``run`` returns keep-alive."""

    def __init__(
        self,
        reader: SocketReader,
        send: Callable[[bytes], Generator[Wait, None, None]],
        holder: PolicyHolder,
        blockpage: BlockPage,
        settings: ProtocolSettings,
    ) -> None:
        self.reader = reader
        self._send = send
        self.answered = False  # once bytes went out, an error can only close the connection
        self.holder = holder
        self.blockpage = blockpage
        self.settings = settings
        self.outcome = Outcome()
        self._istag: str | None = None

    @property
    def istag(self) -> str:
        """Computed once, when first needed: the generation may cost a store read."""
        if self._istag is None:
            self._istag = istag_for(self.holder.current.generation)
        return self._istag

    def send(self, data: bytes) -> Generator[Wait, None, None]:
        """Send, parking while the client does not read (:mod:`.stream`)."""
        if data:
            self.answered = True
            yield from self._send(data)

    # -- entry point -------------------------------------------------------

    def run(self) -> Steps:
        """Read and answer one message; a generator that yields while it waits
        for the client (see :mod:`.stream`) and returns keep-alive."""
        limits = self.settings.limits
        self.reader.begin_message()
        head = yield from self.reader.read_head(limits.max_head_bytes)
        self.outcome.started = time.monotonic()
        request = parse_icap_head(head, limits)
        kind = SERVICES.get(request.service)
        self.outcome.service, self.outcome.method = request.service, request.method
        if kind is None:
            raise IcapProtocolError(f"no service {request.service!r}", 404)
        if request.method == "OPTIONS":
            if request.has_body:
                self.reader.heads_done()
                yield from self._drain(ChunkedBody(self.reader, limits), limit=None)
            yield from self.send(self._options(kind))
            self.outcome.status = 200
            return request.keep_alive
        if request.method != kind:
            raise IcapProtocolError(f"{request.method} not allowed for {request.service}", 405)
        heads = yield from self.reader.read_exact(heads_length(request))
        request = attach_heads(request, heads, limits)
        self.reader.heads_done()
        if request.has_body:
            self.reader.expect(EXPECT_BODY)
        policy = self.holder.current
        client = _client_of(request)
        http_req = request.http_request
        info = RequestInfo(
            client=client,
            method=http_req.method if http_req else "-",
            url=http_req.url if http_req else "-",
            headers=http_req.headers if http_req else request.headers,
            # Squid's `adaptation_meta X-Icapfilter-SNI "%ssl::>sni"`: an ICAP
            # header, so a client cannot set it; it can only add a name to judge.
            sni=request.headers.get("X-Icapfilter-SNI"),
        )
        self.outcome.client, self.outcome.url = client, info.url
        exchange = _Exchange(self, request, info)
        keep = yield from (exchange.reqmod(policy) if kind == "REQMOD"
                           else exchange.respmod(policy))
        return keep and request.keep_alive

    # -- pieces ------------------------------------------------------------

    def _options(self, kind: str) -> bytes:
        s = self.settings
        headers = [
            ("Methods", kind),
            ("Service", f"icapfilter/{__version__} {kind.lower()} filter"),
            ("Service-ID", "icapfilter"),
            ("ISTag", self.istag),
            ("Max-Connections", str(s.max_connections)),
            ("Options-TTL", str(s.options_ttl)),
            ("Allow", "204"),
            ("Preview", str(s.preview)),
        ]
        if kind == "RESPMOD":
            headers.append(("Transfer-Preview", s.transfer_preview))
            if s.transfer_ignore:
                headers.append(("Transfer-Ignore", s.transfer_ignore))
            if s.transfer_complete:
                headers.append(("Transfer-Complete", s.transfer_complete))
        return render.icap_response(200, headers)

    def _drain(self, body: ChunkedBody, limit: int | None) -> Steps:
        """Read and drop the rest of a body; False when it was too long to wait for."""
        total = 0
        while True:
            event = yield from body.next()
            if isinstance(event, EndOfBody):
                return True
            total += len(event)
            if limit is not None and total > limit:
                return False


class _Exchange:
    """The REQMOD/RESPMOD flow of one message, after its heads were read."""

    def __init__(self, tx: Transaction, request: IcapRequest, info: RequestInfo) -> None:
        self.tx = tx
        self.request = request
        self.info = info
        self.body = ChunkedBody(tx.reader, tx.settings.limits) if request.has_body else None
        self.in_preview = request.has_body and request.preview is not None
        self.complete = not request.has_body  # the whole body has been read
        self.preview_read = False  # the end of the preview has been read

    # -- reading -----------------------------------------------------------

    def next_data(self) -> Generator[Wait, None, bytes | None]:
        """Next body bytes; None at the end of the preview or of the body."""
        assert self.body is not None
        event = yield from self.body.next()
        if isinstance(event, EndOfBody):
            if not self.in_preview or event.ieof:
                self.complete = True
            return None
        self.tx.outcome.body_bytes += len(event)
        return event

    def read_preview(self) -> Generator[Wait, None, None]:
        """Read the rest of the preview (at most ``preview`` bytes, already sent)."""
        if self.in_preview and not self.complete and not self.preview_read:
            while (yield from self.next_data()) is not None:
                pass
            self.preview_read = True

    def continue_after_preview(self) -> Generator[Wait, None, None]:
        if self.in_preview and not self.complete:
            yield from self.tx.send(render.CONTINUE)
            self.tx.reader.expect(EXPECT_BODY)
            self.body = ChunkedBody(self.tx.reader, self.tx.settings.limits)
        self.in_preview = False

    def finish_reading(self) -> Steps:
        """Consume what is left so the connection can carry the next message."""
        if self.complete or self.body is None:
            return True
        if self.in_preview:
            # A final answer inside the preview ends the message (RFC 3507 4.5),
            # but the rest of the preview's chunks are still on the wire.
            yield from self.read_preview()
            return True
        ok = yield from self.tx._drain(self.body, self.tx.settings.drain_bytes)
        self.complete = ok
        return ok

    # -- answering ---------------------------------------------------------

    def headers(self, verdict: Verdict | None = None) -> list[tuple[str, str]]:
        result = [("ISTag", self.tx.istag), ("Server", f"icapfilter/{__version__}")]
        if verdict is not None and verdict.blocked:
            result.append(("X-Icapfilter-Verdict", "block"))
            if verdict.category:
                result.append(("X-Icapfilter-Category", _header_safe(verdict.category)))
        return result

    def answer_204(self) -> Steps:
        ok = yield from self.finish_reading()
        yield from self.tx.send(render.icap_response(204, self.headers()))
        self.tx.outcome.status = 204
        return ok

    def answer_block(self, verdict: Verdict) -> Steps:
        page = self.tx.blockpage.render(verdict, self.info.url, self.info.client.ip,
                                        self.info.client.user)
        http_head = render.http_response_head(verdict.status, [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page))),
            ("Cache-Control", "no-store"),
            ("X-Icapfilter-Category", _header_safe(verdict.category or "-")),
        ])
        # Answer first, then drop the rest of the body: Squid 5.7 stops sending
        # the body after about 64 KB until the answer has started.
        answer = render.icap_response(200, self.headers(verdict), res_hdr=http_head, body=True)
        delay = self.tx.settings.reqmod_block_last_chunk_delay
        if self.request.method == "REQMOD" and delay > 0:
            yield from self.tx.send(answer + render.chunk(page))
            time.sleep(delay)
            yield from self.tx.send(render.LAST_CHUNK)
        else:
            yield from self.tx.send(answer + render.chunk(page) + render.LAST_CHUNK)
        self.tx.outcome.status = 200
        self.tx.outcome.verdict = verdict
        return (yield from self.finish_reading())

    def start_echo(self, held: list[bytes],
                   request_head: bytes | None = None) -> Generator[Wait, None, None]:
        """Start a 200 answer that carries the original message back, unchanged
        but for ``request_head`` (REQMOD) when given."""
        if self.request.method == "REQMOD":
            assert self.request.http_request is not None
            head = render.icap_response(200, self.headers(),
                                        req_hdr=request_head or self.request.http_request.raw,
                                        body=self.body is not None)
        else:
            assert self.request.http_response is not None
            head = render.icap_response(200, self.headers(),
                                        res_hdr=self.request.http_response.raw,
                                        body=self.body is not None)
        yield from self.tx.send(head + b"".join(render.chunk(piece) for piece in held))
        self.tx.outcome.status = 200

    def echo_rest(self) -> Generator[Wait, None, None]:
        """Stream the rest of the body through, then end it."""
        if self.body is None:
            return
        yield from self.continue_after_preview()
        while not self.complete:
            data = yield from self.next_data()
            if data is not None:
                yield from self.tx.send(render.chunk(data))
        yield from self.tx.send(render.LAST_CHUNK)

    def allow(self, held: list[bytes]) -> Steps:
        if self.in_preview or self.request.allows(204):
            return (yield from self.answer_204())
        yield from self.start_echo(held)
        yield from self.echo_rest()
        return True

    # -- flows -------------------------------------------------------------

    def reqmod(self, policy) -> Steps:  # type: ignore[no-untyped-def]
        verdict = policy.decide_request(self.info)
        self.tx.outcome.verdict = verdict
        if verdict.blocked:
            return (yield from self.answer_block(verdict))
        head = self._adapted_request_head(verdict)
        if head is None:
            return (yield from self.allow([]))
        return (yield from self.answer_adapted_request(head))

    def _adapted_request_head(self, verdict: Verdict) -> bytes | None:
        """The request head with the verdict's header changes, or None when
        there is nothing to change (then a 204 does)."""
        http = self.request.http_request
        if http is None:
            return None
        present = [name for name in verdict.drop_request_headers if name in http.headers]
        if not verdict.set_request_headers and not present:
            return None
        return render.rewrite_http_head(http.raw, present, verdict.set_request_headers)

    def answer_adapted_request(self, head: bytes) -> Steps:
        """A 200 with the changed request head and the body echoed (streamed)."""
        held: list[bytes] = []
        if self.in_preview:
            while (data := (yield from self.next_data())) is not None:
                held.append(data)
            self.preview_read = True
            yield from self.continue_after_preview()
        yield from self.start_echo(held, head)
        yield from self.echo_rest()
        return True

    def respmod(self, policy) -> Steps:  # type: ignore[no-untyped-def]
        assert self.request.http_response is not None
        response = ResponseInfo(self.request.http_response.status,
                                self.request.http_response.headers)
        decision = policy.begin_response(self.info, response)
        if isinstance(decision, Verdict):
            self.tx.outcome.verdict = decision
            if decision.blocked:
                # Read the preview before answering: a replacement that reaches
                # Squid 5.7 before it has sent the whole preview of a body larger
                # than its buffer sometimes turns into HTTP 502 ERR_READ_ERROR
                # instead of the block page (about 4 % of such pages in the test
                # tests/integration/test_squid_early_block.py; docs/operations.md).
                yield from self.read_preview()
                return (yield from self.answer_block(decision))
            return (yield from self.allow([]))
        scan = decision
        # With Allow: 204 the answer is a 204 or a block page, never an echo, so
        # nothing is kept (Squid offers it only for a body it has backed up,
        # under 64 KB, so reading on cannot stall it).
        keep = not self.request.allows(204)
        held: list[bytes] = []
        held_bytes = 0
        hold = self.tx.settings.hold_bytes
        # Phase 1: hold the body (preview first) until the verdict is known or the
        # hold limit is reached.
        while not self.complete and not scan.certain and (held_bytes <= hold or not keep):
            data = yield from self.next_data()
            if data is None:
                if self.complete:
                    break
                yield from self.continue_after_preview()
                continue
            scan.feed(data)
            if keep:
                held.append(data)
                held_bytes += len(data)
        if self.complete or scan.certain:
            verdict = scan.finish()
            self.tx.outcome.verdict = verdict
            if verdict.blocked:
                return (yield from self.answer_block(verdict))
            if not self.complete and keep:
                # Scanning is over (limit reached): pass the rest through untouched.
                yield from self.start_echo(held)
                yield from self.echo_rest()
                return True
            return (yield from self.allow(held))
        # The answer must start now (Squid 5.7 sends no more until it does): judge
        # the page on what was read so far.
        verdict = scan.provisional()
        if verdict.blocked:
            self.tx.outcome.verdict = verdict
            return (yield from self.answer_block(verdict))
        # Phase 2: answer now and stream, still scanning.
        yield from self.start_echo(held)
        yield from self.continue_after_preview()
        while not self.complete:
            data = yield from self.next_data()
            if data is None:
                continue
            if not scan.certain:
                scan.feed(data)
                verdict = scan.finish() if scan.certain else scan.provisional()
                if verdict.blocked:
                    return self.late_block(verdict)
            yield from self.tx.send(render.chunk(data))
        verdict = scan.finish()
        if verdict.blocked:
            return self.late_block(verdict)
        yield from self.tx.send(render.LAST_CHUNK)
        self.tx.outcome.verdict = verdict
        return True

    def late_block(self, verdict: Verdict) -> bool:
        """A page found blocked after its answer started: end the answer as an
        error the client can see. The last chunk is never sent and the
        connection is closed (returns False), so Squid aborts the client's
        transfer (no final chunk, or a body shorter than its Content-Length)
        instead of delivering a page cut short that looks complete."""
        self.tx.outcome.verdict = verdict
        self.tx.outcome.late = True
        log.warning("late block after streaming started, answer aborted: %s (%s)",
                    self.info.url, verdict.reason)
        return False


def _header_safe(value: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in value)[:120]
