"""The filter policy: groups, exceptions over blocks, store faults, rate limits, learned cache."""

from __future__ import annotations

import importlib.util

import pytest

from icapfilter.blockpage import BlockPage
from icapfilter.config import GroupConfig, PhrasesConfig
from icapfilter.filtering import FilterPolicy, GroupMap
from icapfilter.icap.messages import Headers
from icapfilter.learned import MemoryLearnedCache
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.ratelimit import MemoryRateLimiter
from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.errors import StoreUnavailable
from icapfilter.urls.loader import load_lists
from icapfilter.urls.store import MemoryStore
from icapfilter.verdict import Verdict

GROUPS = [
    GroupConfig(name="kids", clients=["10.0.0.0/8"], block=["*"]),
    GroupConfig(name="teachers", clients=["10.1.0.0/16", "user:alice"], block=["adult"]),
    GroupConfig(name="default", block=["adult", "gambling"], allow=["news"]),
]


@pytest.fixture
def store(tmp_path):
    for category, domains in [("adult", "porn.test\n"), ("games", "games.test\n"),
                              ("news", "games.test/news\nporn.test/news\n")]:
        (tmp_path / category).mkdir()
        (tmp_path / category / "domains").write_text(domains if "/" not in domains else "")
        if "/" in domains:
            (tmp_path / category / "urls").write_text(domains)
    (tmp_path / "exceptionsitelist").write_text("safe.porn.test\n")
    store = MemoryStore()
    load_lists(store, [tmp_path])
    return store


def policy(store, **kwargs) -> FilterPolicy:
    return FilterPolicy(groups=GroupMap(GROUPS), urls=UrlEngine(store), phrases=None,
                        phrase_settings=PhrasesConfig(), phrase_tag="-", **kwargs)


def req(url: str, ip: str | None = None, user: str | None = None) -> RequestInfo:
    return RequestInfo(Client(ip, user), "GET", url, Headers())


@pytest.mark.parametrize("ip,user,group", [
    ("10.2.3.4", None, "kids"),
    ("10.1.3.4", None, "teachers"),       # most specific network wins
    ("10.2.3.4", "Alice", "teachers"),    # user name beats the network
    ("192.0.2.1", None, "default"),
    (None, None, "default"),
    ("not-an-ip", None, "default"),
])
def test_clients_map_to_groups(ip, user, group):
    assert GroupMap(GROUPS).match(Client(ip, user)).name == group


def test_group_decides_which_categories_block(store):
    p = policy(store)
    assert p.decide_request(req("http://games.test/", ip="10.2.0.1")).blocked
    assert not p.decide_request(req("http://games.test/", ip="10.1.0.1")).blocked
    blocked = p.decide_request(req("http://www.porn.test/x", ip="10.1.0.1"))
    assert blocked.blocked and blocked.category == "adult" and blocked.group == "teachers"
    assert blocked.entry == "porn.test"


def test_exception_list_beats_block(store):
    verdict = policy(store).decide_request(req("http://safe.porn.test/", ip="10.2.0.1"))
    assert not verdict.blocked and "exception" in verdict.reason


def test_group_allow_category_beats_block(store):
    p = policy(store)
    assert not p.decide_request(req("http://porn.test/news/today")).blocked
    assert p.decide_request(req("http://porn.test/other")).blocked


class DownStore(MemoryStore):
    def lookup(self, hashes):
        raise StoreUnavailable("connection refused")

    def current_generation(self):
        raise StoreUnavailable("connection refused")


@pytest.mark.parametrize("on_error,blocked", [("block", True), ("allow", False)])
def test_store_fault_applies_on_error(on_error, blocked, caplog):
    p = policy(DownStore(), on_error=on_error)
    for _ in range(5):
        verdict = p.decide_request(req("http://x.test/"))
        assert verdict.blocked is blocked
        assert "unavailable" in verdict.reason
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    assert p.generation  # the ISTag still renders


def test_rate_limit_gives_429(store):
    p = policy(store, ratelimit=MemoryRateLimiter(3, 60))
    verdicts = [p.decide_request(req("http://fine.test/", ip="192.0.2.9")) for _ in range(5)]
    assert [v.blocked for v in verdicts] == [False, False, False, True, True]
    assert verdicts[-1].status == 429
    assert not p.decide_request(req("http://fine.test/", ip="192.0.2.10")).blocked


class FakeScan:
    certain = False

    def __init__(self):
        self.fed = b""

    def feed(self, data):
        self.fed += data


def test_response_of_an_excepted_url_is_not_scanned(store):
    p = policy(store)
    verdict = p.begin_response(req("http://safe.porn.test/"),
                               ResponseInfo(200, Headers.of([("Content-Type", "text/html")])))
    assert isinstance(verdict, Verdict) and not verdict.blocked


def test_learned_cache_round_trip():
    from icapfilter.filtering import _from_learned, _to_learned

    original = Verdict.block("weighted phrase limit exceeded", "Gambling", score=80,
                             phrases=("casino (weighted +30)", "poker"))
    again = _from_learned(_to_learned(original), "kids")
    assert again.blocked and again.category == "Gambling" and again.score == 80
    assert again.phrases == original.phrases and again.group == "kids"
    cache = MemoryLearnedCache(10)
    assert cache.put("kids", "g1", "http://a/", "x", 60)
    assert not cache.put("kids", "g1", "http://a/", "y", 60)  # NX: first verdict stays
    assert cache.get("kids", "g1", "http://a/") == "x"


def test_block_page_escapes_every_field():
    page = BlockPage.default().render(
        Verdict.block("<b>reason</b>", "<i>cat</i>", phrases=("<script>p</script>",)),
        'http://x/"><script>alert(1)</script>', "10.0.0.1", "<img src=x onerror=alert(1)>",
    ).decode()
    for raw in ("<script>", "<img", "<b>", "<i>"):
        assert raw not in page
    assert "&lt;script&gt;" in page and "&quot;&gt;" in page


def test_block_page_template_with_unknown_placeholder_fails_at_load():
    with pytest.raises(ValueError, match=r"unknown placeholder \$nosuch"):
        BlockPage("<p>$nosuch</p>")


def test_store_without_any_generation_counts_as_a_fault():
    p = policy(MemoryStore(), on_error="block")
    verdict = p.decide_request(req("http://anything.test/"))
    assert verdict.blocked and "unavailable" in verdict.reason


def test_failing_open_on_store_fault_still_scans_the_page(tmp_path):
    from icapfilter.filtering import PhraseScan
    from icapfilter.phrases import load_phrase_set

    banned = tmp_path / "bannedphraselist"
    banned.write_text("<badword>\n")
    phrases, errors = load_phrase_set([banned])
    assert not errors
    p = FilterPolicy(groups=GroupMap(GROUPS), urls=UrlEngine(DownStore()), phrases=phrases,
                     phrase_settings=PhrasesConfig(), phrase_tag="t", on_error="allow")
    scan = p.begin_response(req("http://x.test/"),
                            ResponseInfo(200, Headers.of([("Content-Type", "text/html")])))
    assert isinstance(scan, PhraseScan)
    scan.feed(b"<p>a badword</p>")
    assert scan.finish().blocked
    assert not p.decide_request(req("http://x.test/")).blocked


def test_phrase_lists_alone_block_no_url(tmp_path):
    from icapfilter.app import build_policy
    from icapfilter.config import parse_config

    (tmp_path / "weightedphraselist").write_text("<casino><60>\n")
    built = build_policy(parse_config(f'[phrases]\ndir = "{tmp_path}"\n'))
    assert not built.decide_request(req("http://any.test/")).blocked
    scan = built.begin_response(req("http://any.test/"),
                                ResponseInfo(200, Headers.of([("Content-Type", "text/html")])))
    scan.feed(b"<p>casino</p>")
    assert scan.finish().blocked


def test_the_log_names_the_phrase_matcher_in_use(tmp_path, caplog):
    from icapfilter.app import build_policy
    from icapfilter.config import parse_config

    (tmp_path / "weightedphraselist").write_text("<casino><60>\n")
    with caplog.at_level("INFO", logger="icapfilter"):
        build_policy(parse_config(f'[phrases]\ndir = "{tmp_path}"\n'))
    engine = "ahocorasick-rs" if importlib.util.find_spec("ahocorasick_rs") else "pyahocorasick"
    assert any(f"matcher {engine}" in r.getMessage() for r in caplog.records)
