"""SafeSearch: search requests rewritten with each engine's documented
parameter (a conflicting one replaced, everything else kept byte for byte),
YouTube requests given the YouTube-Restrict header."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icapfilter.config import GroupConfig
from icapfilter.icap.messages import Headers
from icapfilter.policy import Client, RequestInfo
from icapfilter.policy.safesearch import YOUTUBE_HEADER, enforce, rewrite, split_url
from icapfilter.verdict import Action
from tests.policyfixtures import make_policy


def request(url: str, method: str = "GET", headers=()) -> RequestInfo:  # type: ignore[no-untyped-def]
    return RequestInfo(Client("10.0.0.1"), method, url, Headers.of(headers))


@pytest.fixture
def policy():
    return make_policy([GroupConfig(name="default", safesearch=True),
                        GroupConfig(name="staff", clients=["10.9.0.0/16"])])


@pytest.mark.parametrize(("url", "query"), [
    ("http://www.google.com/search?q=cats", "q=cats&safe=active"),
    ("https://www.google.co.uk/search?q=cats&safe=off", "q=cats&safe=active"),
    ("https://google.de/search?safe=images&q=x&hl=de", "q=x&hl=de&safe=active"),
    ("https://www.google.com.au/search?q=a&SAFE=off&saf%65=off", "q=a&safe=active"),
    ("https://www.google.com/webhp", "safe=active"),
    ("https://www.bing.com/search?q=cats", "q=cats&adlt=strict"),
    ("https://www.bing.com/images/search?q=cats&adlt=off", "q=cats&adlt=strict"),
    ("https://duckduckgo.com/?q=cats", "q=cats&kp=1"),
    ("https://html.duckduckgo.com/html/?q=cats&kp=-2", "q=cats&kp=1"),
    ("https://search.yahoo.com/search?p=cats", "p=cats&vm=r"),
    ("https://uk.search.yahoo.com/search?p=cats&vm=p", "p=cats&vm=r"),
    ("http://www.google.com:80/search?q=a", "q=a&safe=active"),
    ("http://WWW.GOOGLE.COM./search?q=a", "q=a&safe=active"),
    # the host as the URL lists canonicalize it (a browser reaches the same site)
    ("http://www.%67oogle.com/search?q=a", "q=a&safe=active"),
    ("http://WWW.GOOGLE.COM.:80/search?q=a", "q=a&safe=active"),
    ("http://www.\uff47oogle.com/search?q=a", "q=a&safe=active"),  # fullwidth g
    ("http://www.bing\u3002com/search?q=a", "q=a&adlt=strict"),      # ideographic full stop
    ("http://m.YouTube.com./results?search_query=a", None),
])
def test_search_requests_are_rewritten(policy, url, query):
    verdict = policy.decide_request(request(url))
    assert verdict.action is Action.REWRITE and not verdict.blocked
    assert verdict.rewrite_query == query
    if query is None:  # YouTube: a header, not a query
        assert (YOUTUBE_HEADER, "Strict") in verdict.set_request_headers


@pytest.mark.parametrize("url", [
    "http://www.google.com/search?q=a&safe=active",     # already safe
    "https://www.google.com/maps/place/x",              # no search
    "https://mail.google.com/mail/?q=x",                # not a search host
    "https://www.google.evil.test/search?q=a",
    "https://notgoogle.com/search?q=a",
    "https://bing.com.evil.test/search?q=a",
    "https://example.test/search?q=a&safe=off",
])
def test_other_requests_are_left_alone(policy, url):
    verdict = policy.decide_request(request(url))
    assert verdict.action is Action.ALLOW and verdict.rewrite_query is None


def test_connect_is_never_rewritten(policy):
    assert policy.decide_request(request("www.google.com:443", "CONNECT")).action is Action.ALLOW


@pytest.mark.parametrize("host", ["www.youtube.com", "m.youtube.com", "youtubei.googleapis.com",
                                  "youtube.googleapis.com", "www.youtube-nocookie.com"])
def test_youtube_requests_get_the_restrict_header(policy, host):
    verdict = policy.decide_request(request(f"https://{host}/results?search_query=x",
                                            headers=[(YOUTUBE_HEADER, "Moderate")]))
    assert verdict.action is Action.REWRITE
    assert (YOUTUBE_HEADER, "Strict") in verdict.set_request_headers
    assert YOUTUBE_HEADER in verdict.drop_request_headers  # the client's value goes


def test_a_request_already_strict_is_not_rewritten(policy):
    verdict = policy.decide_request(request("https://www.youtube.com/",
                                            headers=[(YOUTUBE_HEADER, "Strict")]))
    assert verdict.action is Action.ALLOW


def test_groups_without_safesearch_are_untouched(policy):
    staff = RequestInfo(Client("10.9.0.1"), "GET", "http://www.google.com/search?q=a", Headers())
    assert policy.decide_request(staff).rewrite_query is None


def test_a_blocked_request_stays_blocked():
    group = GroupConfig(name="default", safesearch=True, block_extensions=["exe"])
    verdict = make_policy([group]).decide_request(request("http://www.google.com/search.exe?q=a"))
    assert verdict.blocked and verdict.rewrite_query is None


def test_split_url_takes_the_host_from_the_authority():
    assert split_url("http://user@www.google.com:8080/search?q=1#f") == (
        "www.google.com", "/search", "q=1")
    assert split_url("www.google.com:443") is None
    assert split_url("http://www.google.com%00/search?q=1") is None  # no host a browser reaches
    assert split_url("http://[::1]:8080/search?q=1") is None


_PIECE = st.text(st.sampled_from("abcsafeSAFE%=+&;.-_0123456789"), max_size=12)


@given(st.lists(_PIECE, max_size=8).map("&".join))
def test_enforced_query_has_exactly_one_value_and_keeps_the_rest(query):
    result = enforce(query, "safe", "active")
    final = query if result is None else result
    names = [unquote_plus(p.partition("=")[0], errors="replace").strip().lower()
             for p in final.split("&") if p]
    assert names.count("safe") == 1
    assert "safe=active" in final.split("&")
    others = [p for p in query.split("&") if p and unquote_plus(
        p.partition("=")[0], errors="replace").strip().lower() != "safe"]
    kept = [p for p in final.split("&") if p != "safe=active"]
    assert kept == others  # order and bytes of every other parameter


@given(st.lists(_PIECE, max_size=8).map("&".join))
def test_enforcing_twice_changes_nothing(query):
    once = enforce(query, "kp", "1")
    assert enforce(query if once is None else once, "kp", "1") is None


@given(st.text(max_size=80))
def test_any_url_is_rewritten_without_error_and_parses_back(tail):
    url = "http://www.google.com/search?q=" + tail.replace(" ", "+").replace("#", "")
    needed = rewrite(request(url))
    assert needed is None or (needed.engine == "google" and not needed.youtube_header)
    final = url.partition("?")[2] if needed is None else needed.query
    assert ("safe", "active") in parse_qsl(final, keep_blank_values=True)
