"""Learned mode through a real Squid configured as squid.conf.example: a page
learned clean skips RESPMOD on the next fetch, a learned block is answered
from REQMOD, and a client cannot forge the mark to dodge the scan."""

from __future__ import annotations

import pytest

from tests.icapserver import ServedLog, logged_methods, serving
from tests.squidserver import Squid, page

pytestmark = [pytest.mark.integration, pytest.mark.squid]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, origin):
    root = tmp_path_factory.mktemp("learned")
    (root / "bannedphraselist").write_text('#listcategory: "Banned words"\n<badword>\n')
    log = root / "access.log"
    config = root / "icapfilter.toml"
    config.write_text(f"""
[phrases]
banned = ["{root / 'bannedphraselist'}"]

[learned]
ttl = 600
mark_requests = true

[log]
access = "{log}"
format = "json"
""")
    with serving(config) as port, Squid(port) as squid:
        yield squid, origin, ServedLog(log, port)


def respmods(log, url: str) -> int:
    return logged_methods(log, url).count("RESPMOD")


def test_page_learned_clean_skips_respmod_and_arrives_intact(stack):
    squid, origin, log = stack
    url = origin.url("www.example.test", "/page/30000")
    assert squid.get(url).body == page(30_000)
    assert respmods(log, url) == 1
    for _ in range(3):
        got = squid.get(url)
        assert got.status == 200 and got.body == page(30_000)
    assert respmods(log, url) == 1, "RESPMOD ran again for a page learned clean"


def test_page_learned_blocked_is_blocked_again_without_a_fetch_through_respmod(stack):
    squid, origin, log = stack
    url = origin.url("www.example.test", "/bad/20000")
    assert squid.get(url).status == 403
    again = squid.get(url)
    assert again.status == 403 and b"banned phrase" in again.body
    assert respmods(log, url) == 1


def test_forged_mark_does_not_skip_the_scan(stack):
    squid, origin, log = stack
    url = origin.url("clean.example.test", "/bad/25000")
    got = squid.get(url, headers={"X-Icapfilter-Learned": "clean"})
    assert got.status == 403 and b"banned phrase" in got.body
    assert respmods(log, url) == 1
