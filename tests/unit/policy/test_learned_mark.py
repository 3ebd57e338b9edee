"""Learned mode at request time: a URL whose page was learned clean is marked
for Squid (which then skips RESPMOD), a learned block is answered at once, and
a mark sent by a client never survives REQMOD."""

from __future__ import annotations

import pytest

from icapfilter.config import GroupConfig
from icapfilter.icap.messages import Headers
from icapfilter.learned import MemoryLearnedCache
from icapfilter.phrases import load_phrase_set
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.policy.filter_policy import FilterPolicy
from icapfilter.policy.learned import LEARNED_MARK
from icapfilter.policy.scanning import PhraseScan
from icapfilter.urls.loader import load_lists
from icapfilter.urls.memory_store import MemoryStore
from tests.policyfixtures import make_policy

HTML = ResponseInfo(200, Headers.of([("Content-Type", "text/html")]))


@pytest.fixture
def build(tmp_path):
    (tmp_path / "bl" / "adult").mkdir(parents=True)
    (tmp_path / "bl" / "adult" / "domains").write_text("porn.test\n")
    store = MemoryStore()
    load_lists(store, [tmp_path / "bl"])
    (tmp_path / "bannedphraselist").write_text("<badword>\n")
    phrases, errors = load_phrase_set([tmp_path / "bannedphraselist"])
    assert not errors

    def make(mark: bool = True, ttl: int = 60, scan: bool = True,
             learned: MemoryLearnedCache | None = None,
             never_respmod: frozenset[str] = frozenset()) -> FilterPolicy:
        groups = [GroupConfig(name="default", block=["adult"], scan=scan)]
        return make_policy(groups, store, phrases=phrases,
                           learned=learned or MemoryLearnedCache(100), ttl=ttl, mark=mark,
                           never_respmod=never_respmod)
    return make


def req(url: str, method: str = "GET", headers: Headers | None = None) -> RequestInfo:
    return RequestInfo(Client("10.0.0.1", None), method, url, headers or Headers())


def scan_page(policy: FilterPolicy, url: str, body: bytes) -> None:
    scan = policy.begin_response(req(url), HTML)
    assert isinstance(scan, PhraseScan)
    scan.feed(body)
    scan.finish()


def test_url_learned_clean_is_marked_for_squid(build):
    policy = build()
    first = policy.decide_request(req("http://a.test/page"))
    assert first.set_request_headers == ()  # not learned yet: RESPMOD must scan it
    scan_page(policy, "http://a.test/page", b"<p>a garden</p>")
    again = policy.decide_request(req("http://a.test/page"))
    assert not again.blocked
    assert again.set_request_headers == ((LEARNED_MARK, "clean"),)
    assert "learned" in again.reason


def test_url_learned_blocked_is_blocked_at_request_time(build):
    policy = build()
    scan_page(policy, "http://a.test/bad", b"<p>a badword</p>")
    verdict = policy.decide_request(req("http://a.test/bad"))
    assert verdict.blocked and "learned" in verdict.reason
    assert verdict.set_request_headers == ()


def test_client_sent_mark_is_always_dropped(build):
    forged = Headers.of([(LEARNED_MARK, "clean")])
    for policy in (build(mark=True), build(mark=False), build(mark=False, ttl=0)):
        verdict = policy.decide_request(req("http://a.test/x", headers=forged))
        assert LEARNED_MARK in verdict.drop_request_headers
        assert verdict.set_request_headers == ()


def test_only_get_and_head_are_marked(build):
    policy = build()
    scan_page(policy, "http://a.test/form", b"<p>clean</p>")
    assert policy.decide_request(req("http://a.test/form", "POST")).set_request_headers == ()
    assert policy.decide_request(req("http://a.test/form", "HEAD")).set_request_headers


def test_marking_off_leaves_requests_unmarked(build):
    policy = build(mark=False)
    scan_page(policy, "http://a.test/page", b"<p>clean</p>")
    assert policy.decide_request(req("http://a.test/page")).set_request_headers == ()


def test_group_that_does_not_scan_is_not_marked(build):
    policy = build(scan=False)
    assert policy.decide_request(req("http://a.test/page")).set_request_headers == ()


def test_listed_url_stays_blocked_even_if_learned_clean_before(build):
    policy = build()
    verdict = policy.decide_request(req("http://porn.test/"))
    assert verdict.blocked and verdict.category == "adult"


def test_page_blocked_from_its_first_part_is_learned_too(build):
    # Pages too large to hold are judged on their first part (provisional); a
    # block there must be remembered like a finished scan's.
    policy = build()
    scan = policy.begin_response(req("http://a.test/big"), HTML)
    assert isinstance(scan, PhraseScan)
    scan.feed(b"<p>a badword</p>" + b"<p>more text</p>" * 100)
    assert scan.provisional().blocked
    assert policy.decide_request(req("http://a.test/big")).blocked


def test_provisional_allow_is_not_learned(build):
    policy = build()
    scan = policy.begin_response(req("http://a.test/long"), HTML)
    scan.feed(b"<p>clean so far</p>")
    assert not scan.provisional().blocked
    assert policy.decide_request(req("http://a.test/long")).set_request_headers == ()


class CountingCache(MemoryLearnedCache):
    def __init__(self) -> None:
        super().__init__(100)
        self.asked: list[str] = []

    def get(self, group: str, generation: str, url: str) -> str | None:
        self.asked.append(url)
        return super().get(group, generation, url)


def test_urls_squid_never_sends_to_respmod_are_not_looked_up_at_request_time(build):
    cache = CountingCache()
    policy = build(learned=cache, never_respmod=frozenset({"png", "jpg"}))
    for url in ("http://a.test/img/logo.png", "http://a.test/PHOTO.JPG", "http://a.test/a.b/x.png"):
        verdict = policy.decide_request(req(url))
        assert not verdict.blocked and verdict.set_request_headers == ()
        assert LEARNED_MARK in verdict.drop_request_headers
    assert cache.asked == []
    # a query, another extension or none: Squid may send these to RESPMOD
    asked = ["http://a.test/logo.png?v=2", "http://a.test/page.html", "http://a.test/png",
             "http://a.test/dir.png/", "http://a.test"]
    for url in asked:
        policy.decide_request(req(url))
    assert cache.asked == asked


def test_the_policy_built_from_the_configuration_skips_media_and_any_transfer_ignore(tmp_path):
    """No Transfer-Ignore by default (Squid matches it against the client's URL),
    but media are answered unscanned at preview, so never learned: no lookup."""
    from icapfilter.app import _never_respmod
    from icapfilter.config import load_config

    default = tmp_path / "default.toml"
    default.write_text("")
    skipped = _never_respmod(load_config(default))
    assert {"png", "jpg", "woff2"} <= skipped and not {"html", "htm", "php", ""} & skipped
    custom = tmp_path / "custom.toml"
    custom.write_text('[server]\ntransfer_ignore = "PNG, svg, *"\n')
    assert {"png", "svg"} <= _never_respmod(load_config(custom))
