"""RFC 3507 behaviour of the server over real sockets, with a predictable test policy."""

from __future__ import annotations

import pytest

from tests.icapserver import (
    IcapClient,
    TestPolicy,
    chunked,
    http_response_head,
    reqmod,
    respmod_head,
    running_server,
    with_settings,
)


@pytest.fixture(scope="module")
def server():
    with running_server(TestPolicy(generation="gen-1")) as srv:
        yield srv


@pytest.fixture
def client(server):
    with IcapClient(server.server_address[1]) as c:
        yield c


def options(service: str) -> bytes:
    return f"OPTIONS icap://127.0.0.1/{service} ICAP/1.0\r\nHost: x\r\n\r\n".encode()


@pytest.mark.parametrize("service,method", [("reqmod", "REQMOD"), ("respmod", "RESPMOD")])
def test_options_lists_what_squid_needs(client, service, method):
    answer = client.transact(options(service))
    assert answer.status == 200
    h = answer.headers
    assert h["methods"] == method
    assert h["istag"] == '"if-gen-1"'
    assert h["encapsulated"] == "null-body=0"
    assert h["allow"] == "204"
    for name in ("service", "max-connections", "options-ttl", "preview"):
        assert name in h
    if method == "RESPMOD":
        assert h["transfer-preview"] == "*"
        # Squid matches Transfer-Ignore against the URL the client chose
        # (page.html?x=.png): none by default, images go by Content-Type.
        assert "transfer-ignore" not in h
        assert "transfer-complete" in h


def test_istag_follows_the_policy_generation(server, client):
    assert client.transact(options("respmod")).headers["istag"] == '"if-gen-1"'
    old = server.holder.current
    server.holder.swap(TestPolicy(generation="gen-2"))
    try:
        assert client.transact(options("respmod")).headers["istag"] == '"if-gen-2"'
    finally:
        server.holder.swap(old)


def test_unknown_service_is_404(client):
    assert client.transact(options("nosuch")).status == 404


def test_method_on_the_wrong_service_is_405(client):
    assert client.transact(reqmod(service="respmod")).status == 405


def test_allowed_request_gets_204_when_allowed(client):
    answer = client.transact(reqmod("http://clean.example/"))
    assert answer.status == 204
    assert answer.headers["istag"] == '"if-gen-1"'


def test_allowed_request_is_echoed_when_204_not_allowed(client):
    answer = client.transact(reqmod("http://clean.example/page", allow204=False))
    assert answer.status == 200
    assert answer.encapsulated == {"req-hdr": "0", "null-body": str(len(answer.heads))}
    assert answer.heads.startswith(b"GET http://clean.example/page HTTP/1.1\r\n")


def test_blocked_request_gets_a_403_block_page(client):
    answer = client.transact(reqmod("http://blocked.example/x"))
    assert answer.status == 200
    assert list(answer.encapsulated) == ["res-hdr", "res-body"]
    assert answer.http_status == 403
    assert b"test-category" in answer.body
    assert b"http://blocked.example/x" in answer.body
    assert answer.headers["x-icapfilter-category"] == "test-category"


def test_block_page_escapes_the_url(client):
    answer = client.transact(reqmod('http://blocked.example/<script>alert("x")</script>'))
    assert answer.http_status == 403
    assert b"<script>" not in answer.body
    assert b"&lt;script&gt;" in answer.body


def test_request_with_body_and_preview_gets_204_in_preview(client):
    req = b"POST http://clean.example/form HTTP/1.1\r\nHost: clean.example\r\n\r\n"
    head = (f"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: x\r\nPreview: 0\r\n"
            f"Encapsulated: req-hdr=0, req-body={len(req)}\r\n\r\n").encode() + req
    answer = client.transact(head, b"a=1&b=2", preview=0)
    assert answer.status == 204


def test_request_body_is_echoed_without_preview_or_204(client):
    req = b"POST http://clean.example/form HTTP/1.1\r\nHost: clean.example\r\n\r\n"
    head = (f"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: x\r\n"
            f"Encapsulated: req-hdr=0, req-body={len(req)}\r\n\r\n").encode() + req
    body = b"x" * 100_000
    answer = client.transact(head, body)
    assert answer.status == 200
    assert answer.body == body
    assert answer.heads == req


@pytest.mark.parametrize("size", [0, 100, 4096, 60_000, 66_000, 300_000])
def test_clean_response_with_allow_204_is_204_whatever_its_size(client, size):
    body = b"c" * size
    head = respmod_head("http://clean.example/", http_response_head(length=size),
                        preview=4096, allow204=True)
    assert client.transact(head, body, preview=4096).status == 204


@pytest.mark.parametrize("size", [100, 60_000, 66_000, 300_000])
def test_clean_response_with_preview_but_no_allow_204_is_echoed_past_the_preview(client, size):
    body = b"c" * size
    head = respmod_head("http://clean.example/", http_response_head(length=size),
                        preview=4096, allow204=False)
    answer = client.transact(head, body, preview=4096)
    if size <= 4096:
        assert answer.status == 204  # decided inside the preview
    else:
        assert answer.status == 200 and answer.body == body


@pytest.mark.parametrize("size", [10, 30_000, 70_000, 500_000])
def test_clean_response_without_204_is_echoed_byte_for_byte(client, size):
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    res = http_response_head(length=len(body))
    head = respmod_head("http://clean.example/", res, preview=None, allow204=False)
    answer = client.transact(head, body, chunk_size=7000)
    assert answer.status == 200
    assert answer.heads == res
    assert answer.body == body


def test_banned_word_in_preview_blocks(client):
    body = b"<p>a badword here</p>"
    head = respmod_head("http://clean.example/", http_response_head(), preview=4096,
                        allow204=True)
    answer = client.transact(head, body, preview=4096)
    assert answer.http_status == 403
    assert b"banned phrase" in answer.body
    assert b"badword" not in answer.body  # [blockpage] detail = "reason": no phrases shown


def test_banned_word_split_across_chunks_after_continue_blocks(client):
    body = b"x" * 10_000 + b"bad" + b"word" + b"y" * 10_000
    head = respmod_head("http://clean.example/", http_response_head(), preview=1024,
                        allow204=True)
    answer = client.transact(head, body, preview=1024, chunk_size=10_003)
    assert answer.http_status == 403


def test_connection_stays_usable_after_a_block_inside_a_long_body(client):
    body = b"badword" + b"y" * 200_000
    head = respmod_head("http://clean.example/", http_response_head(), preview=None,
                        allow204=False)
    assert client.transact(head, body).http_status == 403
    assert client.transact(reqmod("http://clean.example/")).status == 204


def test_image_is_not_scanned_and_gets_204_at_preview(client):
    head = respmod_head("http://clean.example/a.png", http_response_head("image/png"),
                        preview=0, allow204=True)
    assert client.transact(head, b"badword" * 100, preview=0).status == 204


def test_response_for_a_blocked_url_is_blocked(client):
    head = respmod_head("http://blocked.example/", http_response_head(), preview=0,
                        allow204=True)
    assert client.transact(head, b"hello", preview=0).http_status == 403


def test_respmod_null_body(client):
    head = respmod_head("http://clean.example/", http_response_head(), preview=None,
                        allow204=True, has_body=False)
    assert client.transact(head).status == 204


def test_late_banned_word_aborts_the_answer_without_its_last_chunk(server):
    """A block found after the answer started must not end like a complete
    page: the connection closes without the last chunk, so Squid aborts the
    client's transfer."""
    body = b"x" * 200_000 + b"badword" + b"y" * 200_000
    head = respmod_head("http://clean.example/", http_response_head(length=len(body)),
                        preview=None, allow204=False)
    with IcapClient(server.server_address[1]) as late:
        with pytest.raises(ConnectionError):  # EOF or reset, never the last chunk
            late.send(head + chunked(body, 8192))
            late.read_response()
        assert b"badword" not in late.buffer
    with IcapClient(server.server_address[1]) as other:
        assert other.transact(reqmod("http://clean.example/")).status == 204


def test_x_client_headers_reach_the_block_page(client):
    extra = "X-Client-IP: 10.1.2.3\r\nX-Client-Username: alice\r\n"
    answer = client.transact(reqmod("http://blocked.example/", extra=extra))
    assert b"10.1.2.3" in answer.body and b"alice" in answer.body


def test_persistent_connection_serves_many_messages(client):
    for _ in range(50):
        assert client.transact(reqmod("http://clean.example/")).status == 204


def test_pipelined_messages_are_all_answered(client):
    client.send(reqmod("http://clean.example/1") * 3 + reqmod("http://blocked.example/"))
    statuses = [client.read_response().status for _ in range(4)]
    assert statuses == [204, 204, 204, 200]


def test_connections_over_the_cap_get_503():
    with running_server(TestPolicy(), with_settings(max_connections=2)) as srv:
        port = srv.server_address[1]
        first, second = IcapClient(port), IcapClient(port)
        try:
            assert first.transact(reqmod()).status == 204
            assert second.transact(reqmod()).status == 204
            with IcapClient(port) as third:
                third.send(reqmod())
                assert third.read_response().status == 503
        finally:
            first.close()
            second.close()
