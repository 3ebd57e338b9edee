"""End to end through a real Squid (Debian's 5.7 here) with the in-process server.

Covers the Squid 5.7 RESPMOD stall (bug 5352): bodies from 1 KB to 2 MB,
several just above 64 KB, must all arrive, and each fetch has a timeout so a
stall fails the test instead of hanging CI.
"""

from __future__ import annotations

import gzip

import pytest

from tests.icapserver import TestPolicy, running_server
from tests.squidserver import Squid, page

pytestmark = [pytest.mark.integration, pytest.mark.squid]


@pytest.fixture(scope="module")
def stack(origin):
    with running_server(TestPolicy(generation="e2e")) as icap, \
            Squid(icap.server_address[1]) as squid:
        yield squid, origin


SIZES = [1024, 30_000, 60_000, 64 * 1024, 65 * 1024 + 1, 66_000, 70_000, 80_000, 100_000,
         130_000, 200_000, 300_000, 1_000_000, 2 * 1024 * 1024]


@pytest.mark.parametrize("size", SIZES)
def test_clean_page_passes_byte_for_byte(stack, size):
    squid, origin = stack
    got = squid.get(origin.url("clean.example.test", f"/page/{size}"), timeout=20)
    assert got.status == 200, squid.log()
    assert got.body == page(size)
    assert got.headers["x-origin-test"] == f"page-{size}"
    assert got.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("size", [2000, 50_000, 70_000])
def test_page_with_banned_word_is_blocked(stack, size):
    squid, origin = stack
    got = squid.get(origin.url("clean.example.test", f"/bad/{size}"))
    assert got.status == 403
    assert b"Access to this page has been denied" in got.body


def test_gzip_page_passes_unchanged(stack):
    squid, origin = stack
    got = squid.get(origin.url("clean.example.test", "/gzip/100000"))
    assert got.status == 200
    assert got.headers.get("content-encoding") == "gzip"
    assert gzip.decompress(got.body) == page(100_000)


def test_blocked_url_gets_block_page_with_category(stack):
    squid, origin = stack
    got = squid.get(origin.url("blocked.example.test", "/page/100"))
    assert got.status == 403
    assert b"test-category" in got.body


def test_script_in_url_is_escaped_on_block_page(stack):
    squid, origin = stack
    got = squid.get(origin.url("blocked.example.test", "/x?<script>alert(1)</script>"))
    assert got.status == 403
    assert b"<script>alert(1)</script>" not in got.body
    assert b"&lt;script&gt;" in got.body


def test_image_passes_without_scanning(stack):
    squid, origin = stack
    got = squid.get(origin.url("clean.example.test", "/image/70000"))
    assert got.status == 200
    assert got.body.startswith(b"\x89PNG")


def test_connect_to_blocked_host_is_refused(stack):
    squid, _ = stack
    assert squid.connect("blocked.example.test:443") == 403


def test_banned_word_found_after_streaming_started_cuts_the_page(stack):
    """Past the hold limit the answer has started; a late verdict truncates the page."""
    import http.client

    squid, origin = stack
    with pytest.raises(http.client.IncompleteRead) as info:
        squid.get(origin.url("clean.example.test", "/bad/400000?late"), timeout=20)
    assert 56 * 1024 < len(info.value.partial) < 400_000
    assert b"badword" not in info.value.partial
