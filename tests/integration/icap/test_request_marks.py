"""REQMOD answers that change request headers (the learned-mode mark): a 200
carrying the changed head, the body echoed intact, previews honoured."""

from __future__ import annotations

from dataclasses import replace

import pytest

from icapfilter.policy import RequestInfo
from icapfilter.verdict import Verdict
from tests.icapserver import IcapClient, TestPolicy, chunked, reqmod, running_server


class MarkingPolicy(TestPolicy):
    """Drops X-Mark from every request; sets it on URLs containing ``learned``."""

    __test__ = False

    def decide_request(self, request: RequestInfo) -> Verdict:
        verdict = super().decide_request(request)
        if verdict.blocked:
            return verdict
        add = (("X-Mark", "clean"),) if "learned" in request.url else ()
        return replace(verdict, drop_request_headers=("X-Mark",), set_request_headers=add)


@pytest.fixture(scope="module")
def port():
    with running_server(MarkingPolicy()) as srv:
        yield srv.server_address[1]


def post(url: str, body_len: int, extra_http: str = "", preview: int | None = None) -> bytes:
    http = (f"POST {url} HTTP/1.1\r\nHost: a.test\r\nContent-Length: {body_len}\r\n"
            f"{extra_http}\r\n").encode()
    icap = f"Host: 127.0.0.1\r\nEncapsulated: req-hdr=0, req-body={len(http)}\r\nAllow: 204\r\n"
    if preview is not None:
        icap += f"Preview: {preview}\r\n"
    return f"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\n{icap}\r\n".encode() + http


def test_unmarked_request_gets_204(port):
    with IcapClient(port) as c:
        assert c.transact(reqmod("http://a.test/plain")).status == 204


def test_learned_url_gets_its_request_back_with_the_mark(port):
    with IcapClient(port) as c:
        answer = c.transact(reqmod("http://a.test/learned"))
        assert answer.status == 200 and "null-body" in answer.encapsulated
        assert answer.heads.startswith(b"GET http://a.test/learned HTTP/1.1\r\n")
        assert answer.heads.endswith(b"\r\nX-Mark: clean\r\n\r\n")
        # the connection carries the next message
        assert c.transact(reqmod("http://a.test/plain")).status == 204


@pytest.mark.parametrize("preview", [None, 0, 10, 4096])
def test_forged_mark_is_removed_and_the_body_echoed_intact(port, preview):
    body = bytes(range(256)) * 40
    with IcapClient(port) as c:
        answer = c.transact(post("http://a.test/form", len(body), "X-Mark: clean\r\n", preview),
                            body, preview=preview)
        assert answer.status == 200
        assert b"X-Mark" not in answer.heads and b"Content-Length: 10240" in answer.heads
        assert answer.body == body
        assert c.transact(reqmod("http://a.test/plain")).status == 204


def test_forged_mark_on_a_body_that_fits_the_preview(port):
    body = b"name=value"
    with IcapClient(port) as c:
        c.send(post("http://a.test/form", len(body), "X-Mark: forged\r\n", preview=100)
               + chunked(body, ieof=True))
        answer = c.read_response()
        assert answer.status == 200 and b"X-Mark" not in answer.heads
        assert answer.body == body
