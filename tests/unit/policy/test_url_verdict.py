"""The URL lists' verdict for a group: exceptions beat bans, whatever the order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icapfilter.config import GroupConfig
from icapfilter.icap.messages import Headers
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.policy.failure import FailurePolicy
from icapfilter.policy.groups import Group
from icapfilter.policy.url_verdict import UrlVerdicts, lookup_hits, rule
from icapfilter.urls.engine import UrlEngine, UrlHit
from icapfilter.urls.errors import StoreUnavailable
from icapfilter.urls.memory_store import MemoryStore
from icapfilter.verdict import Verdict
from tests.policyfixtures import make_policy
from tests.unit.policy.conftest import GROUPS

DEFAULT = Group.from_config(GroupConfig(name="default", block=["adult"], allow=["news"]))
ADULT = UrlHit("adult", "porn.test", exception=False)
NEWS = UrlHit("news", "porn.test/news", exception=False)
EXCEPTION = UrlHit("exceptionsitelist", "safe.porn.test", exception=True)
GAMES = UrlHit("games", "games.test", exception=False)


def req(url: str, ip: str | None = None, user: str | None = None) -> RequestInfo:
    return RequestInfo(Client(ip, user), "GET", url, Headers())


@given(st.permutations([ADULT, NEWS, EXCEPTION, GAMES]))
def test_an_exception_beats_a_ban_in_any_order(hits):
    ruling = rule(DEFAULT, hits)
    assert ruling is not None and not ruling.blocked
    assert ruling.hit in (NEWS, EXCEPTION)


@given(st.permutations([ADULT, GAMES]))
def test_a_category_the_group_blocks_blocks(hits):
    ruling = rule(DEFAULT, hits)
    assert ruling is not None and ruling.blocked and ruling.hit == ADULT


def test_hits_the_group_does_not_care_about_decide_nothing():
    assert rule(DEFAULT, [GAMES]) is None
    assert rule(DEFAULT, []) is None


def test_a_ruling_names_its_entry_and_category():
    blocked = rule(DEFAULT, [ADULT]).verdict(DEFAULT)
    assert (blocked.blocked, blocked.category, blocked.entry, blocked.reason) == (
        True, "adult", "porn.test", "listed in adult")
    allowed = rule(DEFAULT, [EXCEPTION, ADULT]).verdict(DEFAULT)
    assert (allowed.blocked, allowed.category, allowed.reason) == (
        False, "exceptionsitelist", "exception list exceptionsitelist")


def test_group_decides_which_categories_block(store):
    p = make_policy(GROUPS, store)
    assert p.decide_request(req("http://games.test/", ip="10.2.0.1")).blocked
    assert not p.decide_request(req("http://games.test/", ip="10.1.0.1")).blocked
    blocked = p.decide_request(req("http://www.porn.test/x", ip="10.1.0.1"))
    assert blocked.blocked and blocked.category == "adult" and blocked.group == "teachers"
    assert blocked.entry == "porn.test"


def test_exception_list_beats_block(store):
    verdict = make_policy(GROUPS, store).decide_request(req("http://safe.porn.test/",
                                                            ip="10.2.0.1"))
    assert not verdict.blocked and "exception" in verdict.reason


def test_group_allow_category_beats_block(store):
    p = make_policy(GROUPS, store)
    assert not p.decide_request(req("http://porn.test/news/today")).blocked
    assert p.decide_request(req("http://porn.test/other")).blocked


def test_response_of_an_excepted_url_is_not_scanned(store):
    verdict = make_policy(GROUPS, store).begin_response(
        req("http://safe.porn.test/"), ResponseInfo(200, Headers.of([("Content-Type",
                                                                      "text/html")])))
    assert isinstance(verdict, Verdict) and not verdict.blocked


def test_lists_that_vanished_count_as_a_store_fault():
    with pytest.raises(StoreUnavailable, match="no list generation"):
        lookup_hits(UrlEngine(MemoryStore()), "http://anything.test/")


def test_the_report_gives_the_verdict_the_server_gives(store):
    verdicts = UrlVerdicts(UrlEngine(store), FailurePolicy())
    group = Group.from_config(GROUPS[2])
    for url in ("http://porn.test/news/x", "http://www.porn.test/", "http://safe.porn.test/",
                "http://games.test/", "http://clean.test/", "http://1.2.3.4.5/"):
        report = verdicts.report(group, url)
        assert report.verdict == verdicts.verdict(group, url), url
    report = verdicts.report(group, "http://porn.test/news/x")
    assert report.ruling.hit.category == "news" and len(report.hits) == 2


def test_the_report_of_an_unparseable_url_says_why(store):
    verdicts = UrlVerdicts(UrlEngine(store), FailurePolicy("allow"))
    report = verdicts.report(DEFAULT, "http://1.2.3.4.5/")
    assert report.verdict is None and "parts" in report.unparseable


def test_without_lists_no_url_is_judged():
    verdicts = UrlVerdicts(None, FailurePolicy())
    assert verdicts.verdict(DEFAULT, "http://porn.test/") is None
    assert verdicts.generation == "none"


def test_icapfilter_check_reports_lists_that_vanished_as_the_fault_the_server_sees():
    verdicts = UrlVerdicts(UrlEngine(MemoryStore()), FailurePolicy())
    with pytest.raises(StoreUnavailable):
        verdicts.report(DEFAULT, "http://anything.test/")
    assert verdicts.verdict(DEFAULT, "http://anything.test/").status == 503
