"""Raw ICAP probes against `icapfilter serve` whose default group has
``safesearch = true``, ``block_types = ["application/x-msdownload"]`` and
``block_extensions = ["exe"]`` (issue 20's acceptance): search requests come
back rewritten as a 200 with the modified request head, executables get the
block page."""

from __future__ import annotations

import pytest

from tests.icapserver import (
    IcapClient,
    chunked,
    http_response_head,
    reqmod,
    respmod_head,
    serving,
)

pytestmark = pytest.mark.integration

PE = (b"MZ" + b"\x90" * 58 + (0x80).to_bytes(4, "little") + b"\x00" * (0x80 - 64)
      + b"PE\x00\x00" + b"\x00" * 3000)


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    config = tmp_path_factory.mktemp("filetypes") / "icapfilter.toml"
    config.write_text("""
[[groups]]
name = "default"
safesearch = true
block_types = ["application/x-msdownload"]
block_extensions = ["exe"]
""")
    with serving(config) as served:
        yield served


def request_line(answer) -> bytes:  # type: ignore[no-untyped-def]
    return answer.heads.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(("url", "expected"), [
    ("http://www.google.com/search?q=cats&safe=off",
     b"GET http://www.google.com/search?q=cats&safe=active HTTP/1.1"),
    ("http://www.bing.com/search?q=cats",
     b"GET http://www.bing.com/search?q=cats&adlt=strict HTTP/1.1"),
    ("http://duckduckgo.com/?q=cats", b"GET http://duckduckgo.com/?q=cats&kp=1 HTTP/1.1"),
    ("http://search.yahoo.com/search?p=cats",
     b"GET http://search.yahoo.com/search?p=cats&vm=r HTTP/1.1"),
])
def test_search_request_comes_back_rewritten(port, url, expected):
    with IcapClient(port) as client:
        answer = client.transact(reqmod(url))
        assert answer.status == 200 and "req-hdr" in answer.encapsulated
        assert "null-body" in answer.encapsulated
        assert request_line(answer) == expected
        assert f"Host: {url.split('/')[2]}".encode() in answer.heads
        # the connection goes on
        assert client.transact(reqmod("http://example.test/")).status == 204


def test_youtube_request_gets_the_restrict_header(port):
    with IcapClient(port) as client:
        answer = client.transact(reqmod("http://www.youtube.com/results?search_query=x",
                                        allow204=False))
        assert answer.status == 200
        assert answer.heads.endswith(b"\r\nYouTube-Restrict: Strict\r\n\r\n")
        assert request_line(answer) == b"GET http://www.youtube.com/results?search_query=x HTTP/1.1"


def test_rewritten_post_keeps_its_body(port):
    body = b"q=cats&x=" + b"y" * 20_000
    http = (b"POST /search?q=cats HTTP/1.1\r\nHost: www.google.com\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    head = (b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\nPreview: 0\r\n"
            b"Allow: 204\r\nEncapsulated: req-hdr=0, req-body=%d\r\n\r\n" % len(http) + http)
    with IcapClient(port) as client:
        answer = client.transact(head, body, preview=0)
        assert answer.status == 200
        assert request_line(answer) == b"POST /search?q=cats&safe=active HTTP/1.1"
        assert answer.body == body


@pytest.mark.parametrize("url", ["http://dl.example.test/setup.exe",
                                 "http://dl.example.test/Setup.EXE.",
                                 "http://dl.example.test/setup%2Eexe?x=1"])
def test_request_for_an_exe_gets_the_block_page(port, url):
    with IcapClient(port) as client:
        answer = client.transact(reqmod(url))
        assert answer.status == 200 and answer.http_status == 403
        assert b"file type not allowed" in answer.body
        assert answer.headers.get("x-icapfilter-category") == "filetype"


@pytest.mark.parametrize(("content_type", "body", "extra"), [
    ("application/x-msdownload", PE, ""),
    ("application/octet-stream", PE, ""),  # sniffed
    ("text/plain", b"hello " * 100, 'Content-Disposition: attachment; filename="setup.exe"\r\n'),
])
def test_response_of_an_executable_gets_the_block_page(port, content_type, body, extra):
    res = http_response_head(content_type, len(body), extra)
    with IcapClient(port) as client:
        answer = client.transact(respmod_head("http://dl.example.test/get", res, preview=1024,
                                              allow204=True), body, preview=1024)
        assert answer.status == 200 and answer.http_status == 403
        assert b"file type not allowed" in answer.body


def test_other_responses_pass(port):
    body = b"<html>fine</html>"
    res = http_response_head("text/html", len(body))
    with IcapClient(port) as client:
        client.send(respmod_head("http://dl.example.test/", res, preview=1024, allow204=True)
                    + chunked(body, ieof=True))
        assert client.read_response().status == 204
