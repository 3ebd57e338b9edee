"""A URL the engine cannot parse gets on_error, in the server and in the Squid helper."""

from __future__ import annotations

import logging

import pytest

from icapfilter.config import GroupConfig
from icapfilter.icap.messages import Headers
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.policy.failure import UNPARSEABLE
from icapfilter.policy.filter_policy import FilterPolicy
from icapfilter.squidhelper import answer
from icapfilter.urls.loader import load_lists
from icapfilter.urls.memory_store import MemoryStore
from tests.policyfixtures import make_policy

UNPARSEABLE_URLS = [
    "http://1.203.0.113.7/",      # five parts ending in a number: not a host
    "http://foo.09/",             # ends in a number that is no IPv4 number
    "http://%ff%fe.example/",     # not UTF-8 once decoded
    "http://a..b.example/",
    "http://[::1/",
    "http://exa mple.com/",
]


@pytest.fixture
def store(tmp_path) -> MemoryStore:
    (tmp_path / "adult").mkdir()
    (tmp_path / "adult" / "domains").write_text("adult.example\n")
    store = MemoryStore()
    load_lists(store, [tmp_path])
    return store


def policy(store: MemoryStore, on_error: str = "block") -> FilterPolicy:
    return make_policy([GroupConfig(name="default", block=["adult"])], store, on_error=on_error)


def request(url: str) -> RequestInfo:
    return RequestInfo(Client("192.0.2.1", None), "GET", url, Headers())


@pytest.mark.parametrize("url", UNPARSEABLE_URLS)
def test_unparseable_url_is_blocked_by_default(store, url) -> None:
    verdict = policy(store).decide_request(request(url))
    assert verdict.blocked and verdict.category == UNPARSEABLE
    assert verdict.reason.startswith("unparseable URL (")


def test_unparseable_url_is_blocked_in_respmod_too(store) -> None:
    response = ResponseInfo(200, Headers([("Content-Type", "text/html")]))
    verdict = policy(store).begin_response(request("http://1.2.3.4.5/"), response)
    assert verdict.blocked and verdict.category == UNPARSEABLE


def test_on_error_allow_lets_unparseable_urls_through_as_unlisted(store) -> None:
    verdict = policy(store, on_error="allow").decide_request(request("http://1.2.3.4.5/"))
    assert not verdict.blocked and verdict.reason == "not listed"


def test_unparseable_url_is_logged_with_its_reason_and_counted(store, caplog) -> None:
    checked = policy(store)
    with caplog.at_level(logging.WARNING, logger="icapfilter.policy"):
        checked.decide_request(request("http://1.2.3.4.5/"))
        checked.decide_request(request("http://1.2.3.4.6.7/"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1  # once, then at most once a minute
    assert "1.2.3.4.5" in messages[0] and "more than 4 parts" in messages[0]
    assert checked.gauges()["icapfilter_unparseable_urls_total"] == 2


def test_parseable_urls_keep_their_verdicts(store) -> None:
    checked = policy(store)
    assert checked.decide_request(request("http://www.adult.example/x")).blocked
    assert not checked.decide_request(request("http://clean.example/")).blocked


def test_squid_helper_blocks_an_unparseable_url(store) -> None:
    reply = answer(policy(store), b"7 192.0.2.1 - http://1.203.0.113.7/")
    assert reply.startswith(b'7 OK message="unparseable URL (')
    assert reply.endswith(b'tag="unparseable-url"\n')
    # a %-encoded field is decoded first: a space inside makes the URL unparseable
    assert answer(policy(store), b"192.0.2.1 - http://exa%20mple.com/").startswith(b"OK ")
