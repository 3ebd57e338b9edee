"""`icapfilter serve` through a real Squid with a schedule and a configured
block page: a rule that always applies blocks its category, a rule that never
applies lifts nothing, and the page is German with the unblock link filled in
and without the phrases a pupil's page was blocked for."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.icapserver import serving
from tests.squidserver import Squid, write_lists

pytestmark = [pytest.mark.integration, pytest.mark.squid]

GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}


@pytest.fixture(scope="module")
def squid(tmp_path_factory, origin):
    root = tmp_path_factory.mktemp("schedule")
    bl, phrases = write_lists(root)
    config = root / "icapfilter.toml"
    config.write_text(f"""
[lists]
paths = ["{bl}"]
[phrases]
dir = "{phrases}"
[blockpage]
contact_url = "https://help.example.test/unblock?url={{url}}&category={{category}}"
[[groups]]
name = "default"
block = ["adult"]
[[groups.schedule]]
days = "*"
hours = "00:00-24:00"
block = ["gambling"]
[[groups.schedule]]
dates = ["2000-01-01"]
unblock = ["adult"]
""")
    with serving(config) as port, Squid(port) as proxy:
        yield proxy, origin


def test_a_rule_that_applies_blocks_its_category(squid):
    proxy, origin = squid
    got = proxy.get(origin.url("other.test", "/page/100"), headers=GERMAN)
    assert got.status == 403, proxy.log()
    body = got.body.decode("utf-8")
    assert '<html lang="de">' in body and "gambling" in body
    (href,) = re.findall(r'<a href="([^"]*)"', body)
    query = parse_qs(urlsplit(html.unescape(href)).query)
    assert query["url"] == [origin.url("other.test", "/page/100")]
    assert query["category"] == ["gambling"]


def test_a_rule_that_does_not_apply_lifts_nothing(squid):
    proxy, origin = squid
    assert proxy.get(origin.url("blocked.example.test", "/page/100")).status == 403


def test_a_pupils_page_names_no_phrase(squid):
    proxy, origin = squid
    got = proxy.get(origin.url("www.example.test", "/bad/30000"), headers=GERMAN)
    assert got.status == 403
    assert b"banned phrase" in got.body and b"badword" not in got.body
    assert "Diese Seite enthält Wörter".encode() in got.body
