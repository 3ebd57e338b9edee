"""Learned page verdicts: kept as one line, read back for the same group, and
the mark REQMOD sets for Squid (see test_learned_mark for the policy's use)."""

from __future__ import annotations

import logging

import pytest

from icapfilter.config import GroupConfig
from icapfilter.icap.messages import Headers
from icapfilter.learned import MemoryLearnedCache
from icapfilter.policy import Client, RequestInfo
from icapfilter.policy.groups import Group
from icapfilter.policy.learned import (
    LEARNED_MARK,
    LearnedPages,
    decode,
    encode,
    extension,
    marked,
)
from icapfilter.urls.errors import StoreUnavailable
from icapfilter.verdict import Verdict

GROUP = Group.from_config(GroupConfig(name="kids"))


def test_learned_cache_round_trip():
    original = Verdict.block("weighted phrase limit exceeded", "Gambling", score=80,
                             phrases=("casino (weighted +30)", "poker"))
    again = decode(encode(original), "kids")
    assert again.blocked and again.category == "Gambling" and again.score == 80
    assert again.phrases == original.phrases and again.group == "kids"
    assert again.reason == "weighted phrase limit exceeded (learned)"
    cache = MemoryLearnedCache(10)
    assert cache.put("kids", "g1", "http://a/", "x", 60)
    assert not cache.put("kids", "g1", "http://a/", "y", 60)  # NX: first verdict stays
    assert cache.get("kids", "g1", "http://a/") == "x"


def test_a_corrupt_value_is_ignored_and_logged(caplog):
    cache = MemoryLearnedCache(10)
    cache.put("kids", "g", "http://a/", "allow\t\tclean\tnot-a-number\t", 60)
    with caplog.at_level(logging.WARNING, logger="icapfilter.policy"):
        assert LearnedPages(cache, 60).get(GROUP, "g", "http://a/") is None
    assert "corrupt" in caplog.records[0].getMessage()


class DownCache:
    def get(self, group: str, generation: str, url: str) -> str | None:
        raise StoreUnavailable("down")

    def put(self, group: str, generation: str, url: str, verdict: str, ttl: int) -> bool:
        raise StoreUnavailable("down")


def test_a_cache_that_does_not_answer_is_a_miss_and_keeps_nothing():
    pages = LearnedPages(DownCache(), 60)
    assert pages.get(GROUP, "g", "http://a/") is None
    pages.keeper(GROUP, "g", "http://a/")(Verdict.allow("clean"))  # no exception


def test_without_a_ttl_nothing_is_learned_or_marked():
    cache = MemoryLearnedCache(10)
    pages = LearnedPages(cache, 0, mark=True)
    pages.keeper(GROUP, "g", "http://a/")(Verdict.allow("clean"))
    assert cache.get("kids", "g", "http://a/") is None and not pages.mark


def test_only_get_and_head_are_looked_up():
    cache = MemoryLearnedCache(10)
    pages = LearnedPages(cache, 60)
    pages.keeper(GROUP, "g", "http://a/")(Verdict.allow("clean"))
    for method, asked in (("GET", True), ("HEAD", True), ("POST", False)):
        assert pages.asks_for(RequestInfo(Client(), method, "http://a/", Headers())) is asked
    assert not LearnedPages().asks_for(RequestInfo(Client(), "GET", "http://a/", Headers()))


def test_the_mark_is_set_only_on_a_page_learned_clean():
    clean = Verdict.allow("clean (learned)", group="kids")
    assert marked(None, clean, GROUP).set_request_headers == ((LEARNED_MARK, "clean"),)
    assert marked(None, None, GROUP).set_request_headers == ()
    blocked = Verdict.block("banned phrase (learned)", "phrases")
    assert marked(None, blocked, GROUP) is blocked


def test_the_mark_a_client_sent_is_dropped_from_every_allowed_request():
    for url_verdict in (None, Verdict.allow("exception list x")):
        assert LEARNED_MARK in marked(url_verdict, None, GROUP).drop_request_headers
    listed = Verdict.block("listed in adult", "adult")
    assert marked(listed, None, GROUP) is listed


@pytest.mark.parametrize("url,ext", [
    ("http://a.test/img/logo.PNG", "png"), ("http://a.test/a.b/x", ""),
    ("http://a.test/logo.png?v=2", ""), ("http://a.test", ""), ("http://a.test/dir.png/", ""),
    ("a.test/x.tar.gz", "gz"),
])
def test_extension_of_the_last_path_segment(url, ext):
    assert extension(url) == ext
