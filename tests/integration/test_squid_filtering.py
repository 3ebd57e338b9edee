"""The whole product through a real Squid: `icapfilter serve` with a list tree,
phrase lists and filter groups, both list stores."""

from __future__ import annotations

import gzip
from contextlib import ExitStack

import pytest

from tests.icapserver import redis_with_lists, serving
from tests.squidserver import Squid, page, write_lists

pytestmark = [pytest.mark.integration, pytest.mark.squid]


@pytest.fixture(scope="module", params=["memory", "redis"])
def stack(request, tmp_path_factory, origin):
    root = tmp_path_factory.mktemp("filtering")
    bl, phrases = write_lists(root)
    with ExitStack() as running:
        store = ""
        if request.param == "redis":
            redis = running.enter_context(redis_with_lists(bl))
            store = f'redis = "{redis.url}"\n'
        config = root / "icapfilter.toml"
        config.write_text(f"""
[store]
{store}
[lists]
paths = [{'"' + str(bl) + '"' if not store else ''}]

[phrases]
dir = "{phrases}"

[[groups]]
name = "default"
block = ["adult", "gambling"]
naughtiness_limit = 50
""")
        port = running.enter_context(serving(config))
        squid = running.enter_context(Squid(port))
        yield squid, origin


def test_blacklisted_domain_is_blocked_with_its_category(stack):
    squid, origin = stack
    got = squid.get(origin.url("blocked.example.test", "/page/100"))
    assert got.status == 403
    assert b"adult" in got.body


def test_subdomain_of_a_blacklisted_domain_is_blocked(stack):
    squid, origin = stack
    assert squid.get(origin.url("sub.blocked.example.test", "/page/100")).status == 403


def test_listed_url_path_is_blocked_and_the_rest_of_the_site_is_not(stack):
    squid, origin = stack
    assert squid.get(origin.url("clean.example.test", "/forbidden/page/10")).status == 403
    assert squid.get(origin.url("clean.example.test", "/page/100")).status == 200


def test_exception_inside_a_blocked_domain_passes(stack):
    squid, origin = stack
    assert squid.get(origin.url("ok.blocked.example.test", "/page/100")).status == 200


def test_clean_site_passes_unchanged(stack):
    squid, origin = stack
    got = squid.get(origin.url("www.example.test", "/page/70000"))
    assert got.status == 200 and got.body == page(70_000)


def test_https_connect_to_a_blocked_domain_is_refused(stack):
    squid, _ = stack
    assert squid.connect("blocked.example.test:443") == 403


def test_page_with_a_banned_phrase_is_blocked(stack):
    squid, origin = stack
    got = squid.get(origin.url("www.example.test", "/bad/30000"))
    assert got.status == 403
    assert b"banned phrase" in got.body


def test_gzip_page_passes_byte_for_byte(stack):
    squid, origin = stack
    got = squid.get(origin.url("www.example.test", "/gzip/90000"))
    assert got.status == 200 and gzip.decompress(got.body) == page(90_000)


def test_image_is_not_scanned(stack):
    squid, origin = stack
    got = squid.get(origin.url("www.example.test", "/image/5000"))
    assert got.status == 200 and got.body.startswith(b"\x89PNG")


def test_page_over_the_naughtiness_limit_is_blocked_with_its_phrases(stack):
    squid, origin = stack
    got = squid.get(origin.url("www.example.test", "/words/20000?w=casino,poker"))
    assert got.status == 403
    assert b"casino" in got.body and b"poker" in got.body
    assert b"weighted phrase limit exceeded" in got.body


def test_page_under_the_limit_passes(stack):
    squid, origin = stack
    got = squid.get(origin.url("www.example.test", "/words/20000?w=casino"))
    assert got.status == 200


def test_page_with_an_exception_phrase_passes(stack):
    squid, origin = stack
    got = squid.get(origin.url("www.example.test", "/words/20000?w=casino,poker,homework%20help"))
    assert got.status == 200


def test_large_page_over_the_limit_early_is_blocked_before_streaming(stack):
    squid, origin = stack
    got = squid.get(origin.url("www.example.test", "/words/300000?w=casino,poker" + ",x" * 13))
    assert got.status == 403


def test_block_pages_keep_the_client_connection_open(stack):
    """Squid 5.7 (bug 5187) closed the client connection after each REQMOD block
    page when it read the page's end together with its body; icapfilter sends
    the end a few milliseconds later ([server] block_end_delay_ms)."""
    import http.client

    squid, origin = stack
    conn = http.client.HTTPConnection("127.0.0.1", squid.port, timeout=20)
    try:
        for i in range(5):
            conn.request("GET", origin.url("blocked.example.test", f"/page/{100 + i}"))
            response = conn.getresponse()
            assert response.status == 403 and b"adult" in response.read()
            assert not response.will_close, f"Squid closed the connection after block {i + 1}"
        conn.request("GET", origin.url("www.example.test", "/page/100"))
        assert conn.getresponse().read() == page(100)
    finally:
        conn.close()
