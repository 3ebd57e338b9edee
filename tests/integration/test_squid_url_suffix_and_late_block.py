"""Through a real Squid: a URL suffix the client chose never skips the scan
(no default Transfer-Ignore; images go by Content-Type at preview), and a
page found blocked after its answer started reaches the client as a broken
transfer, never as a page that looks complete."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.icapserver import serve_process
from tests.squidserver import Squid, page, start_origin

pytestmark = [pytest.mark.integration, pytest.mark.squid]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("suffix")
    phrases = root / "phrases"
    phrases.mkdir()
    (phrases / "bannedphraselist").write_text('#listcategory: "Banned words"\n<badword>\n')
    log = root / "access.log"
    config = root / "icapfilter.toml"
    config.write_text(f'[phrases]\ndir = "{phrases}"\n\n[log]\naccess = "{log}"\n\n'
                      '[[groups]]\nname = "default"\nblock = ["Banned words"]\n'
                      'naughtiness_limit = 50\n')
    proc, port = serve_process("--config", str(config))
    origin = start_origin()
    squid = Squid(port)
    squid.icap_port = port
    # Squid asks OPTIONS (and learns any Transfer-Ignore) with its first
    # RESPMOD: before that every URL is sent. Let it learn them first.
    assert squid.get(origin.url("www.example.test", "/page/100")).status == 200
    time.sleep(0.5)
    try:
        yield squid, origin, log
    finally:
        squid.stop()
        origin.server.shutdown()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def records(log, url: str) -> list[dict]:
    time.sleep(0.3)  # the access log line is written after the answer
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [r for r in lines if r["url"] == url]


@pytest.mark.parametrize("suffix", ["page.html?x=.png", "page.html?.gz", "page.html?q=cat.jpg",
                                    "photo.png"])
def test_a_page_whose_url_ends_like_an_image_is_still_scanned(stack, suffix):
    squid, origin, _ = stack
    got = squid.get(origin.url("www.example.test", f"/bad/30000/{suffix}"))
    assert got.status == 403
    assert b"banned phrase" in got.body


def test_an_image_is_allowed_unscanned_by_its_content_type_at_preview(stack):
    squid, origin, log = stack
    url = origin.url("www.example.test", "/image/90000/photo.png")
    got = squid.get(url)
    assert got.status == 200 and got.body.startswith(b"\x89PNG") and len(got.body) > 89_000
    (record,) = [r for r in records(log, url) if r["method"] == "RESPMOD"]
    assert record["icap_status"] == 204 and record["verdict"] == "allow"
    assert record["bytes"] <= 4096  # decided within the preview


class ChunkedOrigin(BaseHTTPRequestHandler):
    """A 300 KB page with a banned word at 90 %, chunked (no Content-Length):
    a client can only tell it is complete from the final chunk."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = page(300_000, word=b"badword", at=0.9)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(body), 16384):
            piece = body[i:i + 16384]
            self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture(scope="module")
def chunked_origin():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChunkedOrigin)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://www.example.test:{server.server_address[1]}"
    server.shutdown()


def curl(squid: Squid, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                           "--max-time", "20", "-x", f"http://127.0.0.1:{squid.port}", url],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_a_late_block_ends_the_clients_transfer_as_incomplete(stack, chunked_origin, framing):
    """Past hold_bytes (56 KiB) the answer has started; a banned phrase at 90 %
    of a 300 KB page must make the transfer fail, not end early and clean
    (with a chunked page the client could not tell)."""
    squid, origin, log = stack
    url = (f"{chunked_origin}/late" if framing == "chunked"
           else origin.url("www.example.test", "/bad/300000?late"))
    got = curl(squid, url)
    status, size = got.stdout.split()
    assert status == "200"
    assert int(size) < 300_000
    assert got.returncode == 18, (got.returncode, got.stderr)  # partial file
    assert [r["verdict"] for r in records(log, url) if r["method"] == "RESPMOD"] == ["block-late"]


UNSCANNED_BY_TYPE = """acl icapfilter_unscanned rep_mime_type -i ^image/ ^video/ ^audio/ ^font/
adaptation_access icapfilter_resp deny icapfilter_unscanned
"""


def test_squid_can_skip_images_by_their_content_type_without_asking(stack):
    """The cheaper setup docs/squid.md offers: Squid itself skips RESPMOD by the
    response's Content-Type (which the origin sets, as the preview check reads
    it), so an image costs no ICAP round trip and a URL suffix still steers
    nothing."""
    first, origin, log = stack
    squid = Squid(first.icap_port, extra=UNSCANNED_BY_TYPE)
    try:
        image = origin.url("www.example.test", "/image/90000/by-type.png")
        assert squid.get(image).status == 200
        page = origin.url("www.example.test", "/bad/30000/by-type.html?x=.png")
        assert squid.get(page).status == 403
    finally:
        squid.stop()
    assert [r["method"] for r in records(log, image)] == ["REQMOD"]
    assert "RESPMOD" in [r["method"] for r in records(log, page)]
