"""The ICAP exchange driven by tables of bytes in and bytes out, with no socket
(in the manner of h11's test_io.py): each Receive is answered with the next
piece of input (b"" once the input runs out), each Send is recorded."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, replace

import pytest

from icapfilter.icap.errors import IcapProtocolError
from icapfilter.icap.exchange import (
    EXPECT,
    HEAD,
    Command,
    ConnectionClosed,
    Exchange,
    Pause,
    Receive,
    Send,
)
from icapfilter.icap.messages import IcapRequest
from icapfilter.icap.parse import Limits
from icapfilter.icap.service import ProtocolSettings, options_response

# -- a judge whose decisions the tables can predict ---------------------------


@dataclass(frozen=True)
class Decided:
    blocked: bool = False
    category: str | None = None
    status: int = 403
    reason: str = ""
    set_request_headers: tuple[tuple[str, str], ...] = ()
    drop_request_headers: tuple[str, ...] = ()
    rewrite_query: str | None = None


ALLOW = Decided()
BLOCK = Decided(blocked=True, category="porn")


class WordScan:
    """Blocks a body containing ``bad``; certain once it is found."""

    def __init__(self) -> None:
        self.seen = b""

    @property
    def certain(self) -> bool:
        return b"bad" in self.seen

    def feed(self, data: bytes) -> None:
        self.seen += data

    def provisional(self) -> Decided:
        return self.finish()

    def finish(self) -> Decided:
        return BLOCK if self.certain else ALLOW


class Judge:
    """URLs with ``blocked`` are blocked, with ``learned`` marked; ``text/``
    responses are scanned for ``bad``, others allowed from their heads."""

    istag = '"if-g1"'

    def decide_request(self, request: IcapRequest) -> Decided:
        url = request.http_request.url if request.http_request else ""
        if "blocked" in url:
            return BLOCK
        if "learned" in url:
            return Decided(set_request_headers=(("X-Icapfilter-Learned", "clean"),),
                           drop_request_headers=("Cookie", "X-Absent"))
        if "search" in url:  # SafeSearch: the query replaced, a header set
            return Decided(rewrite_query="q=cats&safe=active",
                           set_request_headers=(("YouTube-Restrict", "Strict"),))
        return ALLOW

    def begin_response(self, request: IcapRequest) -> Decided | WordScan:
        assert request.http_response is not None
        url = request.http_request.url if request.http_request else ""
        if "blocked" in url:
            return BLOCK
        if (request.http_response.headers.get("Content-Type") or "").startswith("text/"):
            return WordScan()
        return ALLOW

    def block_page(self, request: IcapRequest, verdict: Decided) -> bytes:
        return b"<p>no</p>"


# -- driving the machine ------------------------------------------------------


@dataclass
class Run:
    out: list[bytes]
    keep: bool
    exchange: Exchange[Decided]
    trace: list[Command]


DEFAULTS = ProtocolSettings()


def drive(pieces: list[bytes], settings: ProtocolSettings = DEFAULTS,
          buffer: bytearray | None = None) -> Run:
    exchange: Exchange[Decided] = Exchange(buffer if buffer is not None else bytearray(),
                                           Judge(), settings, "icapfilter/test")
    steps = exchange.run()
    queue = deque(pieces)
    out: list[bytes] = []
    trace: list[Command] = []
    value: bytes | None = None
    for _ in range(10_000):  # bounded: a machine that loops is a failure, not a hang
        try:
            command = steps.send(value)
        except StopIteration as stop:
            return Run(out, stop.value, exchange, trace)
        trace.append(command)
        value = None
        if isinstance(command, Receive):
            value = queue.popleft() if queue else b""
        elif isinstance(command, Send):
            out.append(undated(command.data))
    raise AssertionError("the exchange never finished")


def undated(data: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*\r\n", b"", data)


def icap(method: str, service: str, headers: str = "", req: bytes | None = None,
         res: bytes | None = None, body: bytes | None = None) -> bytes:
    """An ICAP request with its Encapsulated header computed from its parts."""
    parts, offset = [], 0
    for name, section in (("req-hdr", req), ("res-hdr", res)):
        if section is not None:
            parts.append(f"{name}={offset}")
            offset += len(section)
    kind = "res-body" if res is not None else "req-body"
    parts.append(f"{kind}={offset}" if body is not None else f"null-body={offset}")
    head = (f"{method} icap://127.0.0.1/{service} ICAP/1.0\r\nHost: 127.0.0.1\r\n{headers}"
            f"Encapsulated: {', '.join(parts)}\r\n\r\n").encode()
    return head + (req or b"") + (res or b"") + (body or b"")


GET = b"GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"
GET_BLOCKED = b"GET http://blocked.example/ HTTP/1.1\r\nHost: blocked.example\r\n\r\n"
GET_LEARNED = (b"GET http://learned.example/ HTTP/1.1\r\nHost: learned.example\r\n"
               b"Cookie: c=1\r\n\r\n")
HTML = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
IMAGE = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n"

TAGS = b'ISTag: "if-g1"\r\nServer: icapfilter/test\r\n'
NO_CONTENT = b"ICAP/1.0 204 No Content\r\n" + TAGS + b"Encapsulated: null-body=0\r\n\r\n"
BLOCK_HTTP = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html; charset=utf-8\r\n"
              b"Content-Length: 9\r\nCache-Control: no-store\r\n"
              b"X-Icapfilter-Category: porn\r\n\r\n")
BLOCK_ANSWER = (b"ICAP/1.0 200 OK\r\n" + TAGS
                + b"X-Icapfilter-Verdict: block\r\nX-Icapfilter-Category: porn\r\n"
                + b"Encapsulated: res-hdr=0, res-body=%d\r\n\r\n" % len(BLOCK_HTTP)
                + BLOCK_HTTP + b"9\r\n<p>no</p>\r\n0\r\n\r\n")


def echo_head(*, req: bytes | None = None, res: bytes | None = None, body: bool) -> bytes:
    section = req if req is not None else res
    assert section is not None
    name = "req" if req is not None else "res"
    end = f"{name}-body" if body else "null-body"
    return (b"ICAP/1.0 200 OK\r\n" + TAGS
            + f"Encapsulated: {name}-hdr=0, {end}={len(section)}\r\n\r\n".encode() + section)


LEARNED_HEAD = (b"GET http://learned.example/ HTTP/1.1\r\nHost: learned.example\r\n"
                b"X-Icapfilter-Learned: clean\r\n\r\n")
POST_SEARCH = b"POST /search?q=cats&safe=off HTTP/1.1\r\nHost: s.example\r\n\r\n"
SAFE_SEARCH_HEAD = (b"POST /search?q=cats&safe=active HTTP/1.1\r\nHost: s.example\r\n"
                    b"YouTube-Restrict: Strict\r\n\r\n")

# (name, pieces in, bytes out, keep-alive)
TABLE = [
    ("reqmod allowed, 204 allowed: 204",
     [icap("REQMOD", "reqmod", "Allow: 204\r\n", req=GET)], [NO_CONTENT], True),
    ("reqmod allowed, no Allow 204: the request echoed",
     [icap("REQMOD", "reqmod", req=GET)], [echo_head(req=GET, body=False)], True),
    ("reqmod allowed with a body, no Allow 204: head and body echoed",
     [icap("REQMOD", "reqmod", req=GET, body=b"4\r\npost\r\n0\r\n\r\n")],
     [echo_head(req=GET, body=True), b"4\r\npost\r\n", b"0\r\n\r\n"], True),
    ("reqmod blocked: the block page, whole",
     [icap("REQMOD", "reqmod", "Allow: 204\r\n", req=GET_BLOCKED)], [BLOCK_ANSWER], True),
    ("reqmod blocked with a body: answered, then the body read and dropped",
     [icap("REQMOD", "reqmod", req=GET_BLOCKED), b"4\r\npost\r\n", b"0\r\n\r\n"],
     [BLOCK_ANSWER], True),
    ("reqmod learned page: the head rewritten (mark set, Cookie dropped), 200",
     [icap("REQMOD", "reqmod", "Allow: 204\r\n", req=GET_LEARNED)],
     [echo_head(req=LEARNED_HEAD, body=False)], True),
    ("reqmod learned page in a preview: preview held, 100 Continue, head and body echoed",
     [icap("REQMOD", "reqmod", "Preview: 4\r\n", req=GET_LEARNED,
           body=b"4\r\npost\r\n0\r\n\r\n"), b"2\r\ned\r\n0\r\n\r\n"],
     [b"ICAP/1.0 100 Continue\r\n\r\n", echo_head(req=LEARNED_HEAD, body=True) + b"4\r\npost\r\n",
      b"2\r\ned\r\n", b"0\r\n\r\n"], True),
    ("reqmod rewritten (SafeSearch), 204 allowed: 200 with the new target and header",
     [icap("REQMOD", "reqmod", "Allow: 204\r\n", req=POST_SEARCH)],
     [echo_head(req=SAFE_SEARCH_HEAD, body=False)], True),
    ("reqmod rewritten with a body in a preview: 100 Continue, new head, same body",
     [icap("REQMOD", "reqmod", "Preview: 4\r\nAllow: 204\r\n", req=POST_SEARCH,
           body=b"4\r\npost\r\n0\r\n\r\n"), b"2\r\ned\r\n0\r\n\r\n"],
     [b"ICAP/1.0 100 Continue\r\n\r\n",
      echo_head(req=SAFE_SEARCH_HEAD, body=True) + b"4\r\npost\r\n",
      b"2\r\ned\r\n", b"0\r\n\r\n"], True),
    ("respmod preview with ieof, clean: 204 without Allow 204",
     [icap("RESPMOD", "respmod", "Preview: 4096\r\n", req=GET, res=HTML,
           body=b"5\r\nclean\r\n0; ieof\r\n\r\n")], [NO_CONTENT], True),
    ("respmod preview with ieof, banned word: the block page",
     [icap("RESPMOD", "respmod", "Preview: 4096\r\n", req=GET, res=HTML,
           body=b"6\r\nbad ok\r\n0; ieof\r\n\r\n")], [BLOCK_ANSWER], True),
    ("respmod unscanned type: 204 inside the preview, the preview read to its end",
     [icap("RESPMOD", "respmod", "Preview: 4\r\n", req=GET, res=IMAGE, body=b""),
      b"4\r\n\x89PNG\r\n", b"0\r\n\r\n"], [NO_CONTENT], True),
    ("respmod blocked URL: the preview read, then the block page",
     [icap("RESPMOD", "respmod", "Preview: 4\r\n", req=GET_BLOCKED, res=HTML, body=b""),
      b"4\r\nsome\r\n0\r\n\r\n"], [BLOCK_ANSWER], True),
    ("respmod 100 Continue, clean, Allow 204: 204",
     [icap("RESPMOD", "respmod", "Preview: 4\r\nAllow: 204\r\n", req=GET, res=HTML,
           body=b"4\r\nclea\r\n0\r\n\r\n"), b"6\r\nn page\r\n0\r\n\r\n"],
     [b"ICAP/1.0 100 Continue\r\n\r\n", NO_CONTENT], True),
    ("respmod 100 Continue, clean, no Allow 204: the held body echoed",
     [icap("RESPMOD", "respmod", "Preview: 4\r\n", req=GET, res=HTML,
           body=b"4\r\nclea\r\n0\r\n\r\n"), b"6\r\nn page\r\n0\r\n\r\n"],
     [b"ICAP/1.0 100 Continue\r\n\r\n",
      echo_head(res=HTML, body=True) + b"4\r\nclea\r\n6\r\nn page\r\n", b"0\r\n\r\n"], True),
    ("respmod 100 Continue, banned word after it: the block page",
     [icap("RESPMOD", "respmod", "Preview: 4\r\n", req=GET, res=HTML,
           body=b"4\r\nclea\r\n0\r\n\r\n"), b"3\r\nbad\r\n0\r\n\r\n"],
     [b"ICAP/1.0 100 Continue\r\n\r\n", BLOCK_ANSWER], True),
    ("respmod past hold_bytes: the held chunks go out, the rest streams",
     [icap("RESPMOD", "respmod", req=GET, res=HTML, body=b""),
      b"8\r\naaaaaaaa\r\n", b"8\r\nbbbbbbbb\r\n", b"4\r\ncccc\r\n", b"0\r\n\r\n"],
     [echo_head(res=HTML, body=True) + b"8\r\naaaaaaaa\r\n8\r\nbbbbbbbb\r\n",
      b"4\r\ncccc\r\n", b"0\r\n\r\n"], True),
    ("respmod late block: the chunk with the word and the last chunk never sent, closed",
     [icap("RESPMOD", "respmod", req=GET, res=HTML, body=b""),
      b"8\r\naaaaaaaa\r\n", b"8\r\nbbbbbbbb\r\n", b"4\r\nbad!\r\n", b"0\r\n\r\n"],
     [echo_head(res=HTML, body=True) + b"8\r\naaaaaaaa\r\n8\r\nbbbbbbbb\r\n"], False),
    ("respmod banned word within hold_bytes: the block page, the body drained",
     [icap("RESPMOD", "respmod", req=GET, res=HTML, body=b""),
      b"8\r\naaaaaaaa\r\n", b"4\r\nbad!\r\n", b"4\r\ncccc\r\n", b"0\r\n\r\n"],
     [BLOCK_ANSWER], True),
    ("Connection: close: answered, then not kept",
     [icap("REQMOD", "reqmod", "Allow: 204\r\nConnection: close\r\n", req=GET)],
     [NO_CONTENT], False),
]


@pytest.mark.parametrize(("pieces", "expected", "keep"), [row[1:] for row in TABLE],
                         ids=[row[0] for row in TABLE])
def test_bytes_in_bytes_out(pieces: list[bytes], expected: list[bytes], keep: bool) -> None:
    run = drive(pieces, replace(ProtocolSettings(), hold_bytes=8))
    assert run.out == expected
    assert run.keep is keep


@pytest.mark.parametrize("split", [1, 7, 64])
@pytest.mark.parametrize(("allow", "rest", "answer"), [
    ("Allow: 204\r\n", b"6\r\nn page\r\n0\r\n\r\n", NO_CONTENT),
    ("", b"3\r\nbad\r\n0\r\n\r\n", BLOCK_ANSWER),
])
def test_any_split_of_the_input_gives_the_same_answer(split: int, allow: str, rest: bytes,
                                                      answer: bytes) -> None:
    message = icap("RESPMOD", "respmod", "Preview: 4\r\n" + allow, req=GET, res=HTML,
                   body=b"4\r\nclea\r\n0\r\n\r\n") + rest
    pieces = [message[i:i + split] for i in range(0, len(message), split)]
    run = drive(pieces)
    assert run.out == [b"ICAP/1.0 100 Continue\r\n\r\n", answer]
    assert run.keep


def test_a_late_block_is_recorded_as_late() -> None:
    run = drive([icap("RESPMOD", "respmod", req=GET, res=HTML, body=b""),
                 b"8\r\naaaaaaaa\r\n", b"8\r\nbbbbbbbb\r\n", b"4\r\nbad!\r\n"],
                replace(ProtocolSettings(), hold_bytes=8))
    assert run.exchange.late and run.exchange.verdict is BLOCK
    assert run.exchange.answered and run.exchange.status == 200


def test_the_body_is_expected_after_the_heads_and_after_100_continue() -> None:
    run = drive([icap("RESPMOD", "respmod", "Preview: 4\r\n", req=GET, res=HTML,
                      body=b"4\r\nclea\r\n0\r\n\r\n"), b"6\r\nn page\r\n0\r\n\r\n"])
    kinds = [c for c in run.trace if c is EXPECT or isinstance(c, Send)]
    assert kinds[0] is EXPECT
    assert kinds[1] == Send(b"ICAP/1.0 100 Continue\r\n\r\n") and kinds[2] is EXPECT
    receives = [c for c in run.trace if isinstance(c, Receive)]
    assert receives[-1].in_body


def test_a_reqmod_block_page_can_end_after_a_pause() -> None:
    run = drive([icap("REQMOD", "reqmod", req=GET_BLOCKED)],
                replace(ProtocolSettings(), reqmod_block_last_chunk_delay=0.1))
    assert Pause(0.1) in run.trace
    assert run.out[-1] == b"0\r\n\r\n" and b"".join(run.out) == BLOCK_ANSWER


def test_bytes_after_a_message_stay_for_the_next_one() -> None:
    first = icap("REQMOD", "reqmod", req=GET, body=b"4\r\npost\r\n0\r\n\r\n")
    second = icap("REQMOD", "reqmod", "Allow: 204\r\n", req=GET)
    buffer = bytearray()
    assert drive([first + second], buffer=buffer).keep
    assert buffer == second
    assert drive([], buffer=buffer).out == [NO_CONTENT]


def test_options_advertise_the_service_and_are_built_once_per_istag() -> None:
    run = drive([b"OPTIONS icap://127.0.0.1/respmod ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n"])
    assert run.out == [b"ICAP/1.0 200 OK\r\nMethods: RESPMOD\r\n"
                       b"Service: icapfilter/test respmod filter\r\nService-ID: icapfilter\r\n"
                       b'ISTag: "if-g1"\r\nMax-Connections: 500\r\nOptions-TTL: 300\r\n'
                       b"Allow: 204\r\nPreview: 4096\r\nTransfer-Preview: *\r\n"
                       b"Transfer-Complete: html, htm, shtml, xhtml\r\n"
                       b"Encapsulated: null-body=0\r\n\r\n"]
    assert run.keep
    from icapfilter.icap import service
    settings = ProtocolSettings()
    before = service._options_headers.cache_info().misses
    options_response("REQMOD", settings, '"if-g7"', "x")
    options_response("REQMOD", settings, '"if-g7"', "x")
    assert service._options_headers.cache_info().misses == before + 1
    assert b'"if-g8"' in options_response("REQMOD", settings, '"if-g8"', "x")


def test_options_with_a_body_read_it_first() -> None:
    head = (b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\n"
            b"Encapsulated: opt-body=0\r\n\r\n")
    run = drive([head, b"3\r\nabc\r\n0\r\n\r\n"])
    assert run.out[0].startswith(b"ICAP/1.0 200 OK\r\nMethods: REQMOD\r\n")


# (name, pieces in, status; nothing was answered before the error)
ERRORS = [
    ("garbage request line", [b"GARBAGE\r\n\r\n"], 400),
    ("unsupported version", [b"REQMOD icap://x/reqmod ICAP/2.0\r\n\r\n"], 505),
    ("unknown method", [b"DELETE icap://x/reqmod ICAP/1.0\r\n\r\n"], 501),
    ("unknown service", [icap("REQMOD", "nothing", req=GET)], 404),
    ("method not of the service", [icap("RESPMOD", "reqmod", req=GET, res=HTML)], 405),
    ("missing Encapsulated", [b"REQMOD icap://x/reqmod ICAP/1.0\r\nHost: x\r\n\r\n"], 400),
    ("encapsulated head announced too long",
     [b"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=70000\r\n\r\n"],
     431),
    ("ICAP head too long", [b"REQMOD icap://x/reqmod ICAP/1.0\r\nX: " + b"a" * 300], 431),
    ("malformed encapsulated HTTP head",
     [icap("REQMOD", "reqmod", req=b"NOT A REQUEST LINE AT ALL\r\n\r\n")], 400),
    ("closed inside the ICAP head", [b"REQMOD icap://x/reqmod ICAP/1.0\r\n"], 400),
    ("closed inside the encapsulated heads", [icap("REQMOD", "reqmod", req=GET)[:-5]], 400),
    ("bad chunk size in the preview",
     [icap("RESPMOD", "respmod", "Preview: 4\r\n", req=GET, res=HTML, body=b"zz\r\n")], 400),
    ("chunk longer than announced",
     [icap("RESPMOD", "respmod", req=GET, res=HTML, body=b"2\r\nabc\r\n")], 400),
    ("closed inside a body", [icap("RESPMOD", "respmod", req=GET, res=HTML, body=b"2\r\nab")],
     400),
    ("chunk size line too long",
     [icap("REQMOD", "reqmod", "Allow: 204\r\n", req=GET, body=b"1" * 300)], 413),
]


@pytest.mark.parametrize(("pieces", "status"), [row[1:] for row in ERRORS],
                         ids=[row[0] for row in ERRORS])
def test_bad_input_raises_the_status_to_answer(pieces: list[bytes], status: int) -> None:
    settings = replace(ProtocolSettings(), limits=Limits(max_head_bytes=256))
    exchange: Exchange[Decided] = Exchange(bytearray(), Judge(), settings)
    steps = exchange.run()
    queue = deque(pieces)
    value: bytes | None = None
    with pytest.raises(IcapProtocolError) as error:
        for _ in range(1000):
            command = steps.send(value)
            value = (queue.popleft() if queue else b"") if command is HEAD or isinstance(
                command, Receive) else None
    assert error.value.status == status
    assert not exchange.answered  # the server may still send the error answer


def test_a_bad_chunk_after_the_answer_started_leaves_it_answered() -> None:
    """The server can then only close the connection."""
    exchange: Exchange[Decided] = Exchange(bytearray(), Judge(),
                                           replace(ProtocolSettings(), hold_bytes=8))
    steps = exchange.run()
    queue = deque([icap("RESPMOD", "respmod", req=GET, res=HTML, body=b""),
                   b"8\r\naaaaaaaa\r\n", b"8\r\nbbbbbbbb\r\n", b"zz\r\n"])
    value: bytes | None = None
    with pytest.raises(IcapProtocolError) as error:
        for _ in range(1000):
            command = steps.send(value)
            value = queue.popleft() if isinstance(command, Receive) else None
    assert error.value.status == 400 and exchange.answered


def test_end_of_stream_before_a_message_is_a_clean_close() -> None:
    with pytest.raises(ConnectionClosed):
        drive([])
