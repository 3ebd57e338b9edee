"""SafeSearch and file types through a real Squid configured as
squid.conf.example: a search URL reaches the origin rewritten, a YouTube
request carries YouTube-Restrict, and executables are answered with the
block page, whether named by the URL, the Content-Type, the body's own bytes
or a Content-Disposition."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.icapserver import serving
from tests.squidserver import Squid

pytestmark = [pytest.mark.integration, pytest.mark.squid]

PE = (b"MZ" + b"\x90" * 58 + (0x80).to_bytes(4, "little") + b"\x00" * (0x80 - 64)
      + b"PE\x00\x00" + b"\x00" * 3000)
HOSTS = ("www.google.com", "www.bing.com", "www.youtube.com", "dl.example.test")


class EchoOrigin(BaseHTTPRequestHandler):
    """Echoes the request line and headers it received (text/plain), except
    under /file/, which serves an executable the ways servers do."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        headers = {"Content-Type": "text/plain"}
        path = self.path.split("://", 1)[-1]
        path = "/" + path.split("/", 1)[1] if "://" in self.path else path
        if path.startswith("/file/typed"):
            body, headers["Content-Type"] = PE, "application/x-msdownload"
        elif path.startswith("/file/untyped"):
            body, headers["Content-Type"] = PE, "application/octet-stream"
        elif path.startswith("/file/attached"):
            body = b"plain words " * 100
            headers["Content-Disposition"] = "attachment; filename*=UTF-8''Setup%2EEXE"
        else:
            body = f"{self.requestline}\n{self.headers}".encode()
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[Squid, int]]:
    config = tmp_path_factory.mktemp("safesearch") / "icapfilter.toml"
    config.write_text("""
[[groups]]
name = "default"
safesearch = true
block_types = ["application/x-msdownload"]
block_extensions = ["exe"]
""")
    origin = ThreadingHTTPServer(("127.0.0.1", 0), EchoOrigin)
    origin.daemon_threads = True
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    try:
        with serving(config) as port, Squid(port, hosts=HOSTS) as squid:
            yield squid, origin.server_address[1]
    finally:
        origin.shutdown()
        origin.server_close()


def test_google_search_reaches_the_origin_with_safe_active(stack):
    squid, port = stack
    got = squid.get(f"http://www.google.com:{port}/search?q=cats&safe=off")
    assert got.status == 200
    assert got.body.startswith(b"GET /search?q=cats&safe=active HTTP/1.1\n")


def test_bing_search_reaches_the_origin_with_adlt_strict(stack):
    squid, port = stack
    got = squid.get(f"http://www.bing.com:{port}/search?q=cats")
    assert got.body.startswith(b"GET /search?q=cats&adlt=strict HTTP/1.1\n")


def test_youtube_request_reaches_the_origin_with_the_restrict_header(stack):
    squid, port = stack
    got = squid.get(f"http://www.youtube.com:{port}/results?search_query=x",
                    headers={"YouTube-Restrict": "Moderate"})
    assert got.status == 200
    assert b"YouTube-Restrict: Strict" in got.body and b"Moderate" not in got.body


def test_other_sites_are_untouched(stack):
    squid, port = stack
    got = squid.get(f"http://dl.example.test:{port}/search?q=cats&safe=off")
    assert got.body.startswith(b"GET /search?q=cats&safe=off HTTP/1.1\n")


@pytest.mark.parametrize("path", ["/setup.exe", "/file/typed", "/file/untyped",
                                  "/file/attached"])
def test_executables_get_the_block_page(stack, path):
    squid, port = stack
    got = squid.get(f"http://dl.example.test:{port}{path}")
    assert got.status == 403
    assert b"file type not allowed" in got.body
