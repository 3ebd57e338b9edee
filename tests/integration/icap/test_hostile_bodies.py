"""Hostile RESPMOD bodies against a real `icapfilter serve` decoding with stdlib
zlib (the default install): answered quickly, in little memory, never 'clean'
when they cannot be read."""

from __future__ import annotations

import gzip
import sys
import time
import zlib
from pathlib import Path

import pytest
import zstandard

from tests.icapserver import IcapClient, respmod_head, serve_process, stop_process

pytestmark = pytest.mark.integration

# `serve` with ISA-L taken away, as on an install without the `fast` extra
_LAUNCH = ("import sys, zlib; import icapfilter.content.inflate as i; i.INFLATE = zlib; "
           "from icapfilter.cli import main; sys.argv[0] = 'icapfilter'; main()")
PAGE = b"<html><body><p>a page about forbidden words</p></body></html>"


def member(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "banned").write_text("<forbidden words>\n")
    conf = folder / "icapfilter.toml"
    conf.write_text(f'[phrases]\nbanned = ["{folder / "banned"}"]\n')
    proc, port = serve_process("--config", str(conf), command=(sys.executable, "-c", _LAUNCH))
    yield proc, port
    stop_process(proc)


def send(port: int, body: bytes, headers: str) -> tuple[object, float]:
    res = (f"HTTP/1.1 200 OK\r\n{headers}").encode() + b"\r\n"
    started = time.monotonic()
    with IcapClient(port, timeout=20) as c:
        answer = c.transact(respmod_head("http://site.test/", res, preview=None, allow204=True),
                            body)
    return answer, time.monotonic() - started


def test_five_gzip_members_are_answered_quickly_in_little_memory(server):
    proc, port = server
    before = rss_kib(proc.pid)
    answer, took = send(port, member(b"A" * 70000) * 5,
                        "Content-Type: text/html\r\nContent-Encoding: gzip\r\n")
    assert answer.status == 204 and took < 8
    assert rss_kib(proc.pid) - before < 150 * 1024


def test_a_phrase_in_a_sixth_member_is_blocked(server):
    answer, _ = send(server[1], member(b"A" * 70000) * 5 + member(PAGE),
                     "Content-Type: text/html\r\nContent-Encoding: gzip\r\n")
    assert answer.status == 200 and answer.http_status == 403


def test_a_thousand_deep_chain_is_not_passed(server):
    answer, _ = send(server[1], gzip.compress(PAGE),
                     "Content-Type: text/html\r\nContent-Encoding: "
                     + ", ".join(["gzip"] * 1000) + "\r\n")
    assert answer.status == 200 and answer.http_status == 403


def test_a_zstd_page_is_blocked(server):
    answer, _ = send(server[1], zstandard.ZstdCompressor().compress(PAGE),
                     "Content-Type: text/html\r\nContent-Encoding: zstd\r\n")
    assert answer.status == 200 and answer.http_status == 403


def test_an_html_body_without_content_type_is_blocked(server):
    answer, _ = send(server[1], PAGE, "")
    assert answer.status == 200 and answer.http_status == 403


def test_the_server_is_alive_at_the_end(server):
    proc, port = server
    answer, _ = send(port, b"<p>clean</p>", "Content-Type: text/html\r\n")
    assert answer.status == 204 and proc.poll() is None

