"""e2guardian's blanket switches in list files: ``**`` (whitelist only),
``*ip``/``*ips`` (raw IP hosts), ``**s``/``**ips`` (CONNECT tunnels)."""

from __future__ import annotations

from pathlib import Path

import pytest

from icapfilter.policy.failure import FailurePolicy
from icapfilter.policy.groups import EVERY_LIST_BLOCKS
from icapfilter.policy.url_verdict import UrlVerdicts
from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.loader import load_lists
from icapfilter.urls.store import ListStore, MemoryStore


def engine_for(root: Path, store: ListStore | None = None, cache_size: int = 0) -> UrlEngine:
    store = store or MemoryStore()
    report = load_lists(store, [root])
    assert report.activated, report.summary()
    return UrlEngine(store, cache_size=cache_size)


def blocked(engine: UrlEngine, url: str) -> bool:
    verdict = UrlVerdicts(engine, FailurePolicy()).report(EVERY_LIST_BLOCKS, url).verdict
    return verdict is not None and verdict.blocked


@pytest.fixture
def whitelist_only(write_tree) -> Path:
    return write_tree({
        "e2g/bannedsitelist": '#listcategory: "whitelist only"\nbad.example\n**\n',
        "e2g/exceptionsitelist": "school.example\n",
        "e2g/exceptionurllist": "news.example/kids\n",
    }) / "e2g"


@pytest.mark.parametrize(("url", "expected"), [
    ("http://anything.example/", True),
    ("https://203.0.113.7/", True),
    ("anything.example:443", True),                   # CONNECT too
    ("http://www.school.example/x", False),           # exception site
    ("school.example:443", False),
    ("http://news.example/kids/page", False),         # exception URL
    ("http://news.example/adults", True),
])
def test_double_star_blocks_all_but_the_exceptions(
        whitelist_only: Path, store: ListStore, url: str, expected: bool) -> None:
    assert blocked(engine_for(whitelist_only, store), url) is expected


def test_double_star_names_its_line_and_says_why(whitelist_only: Path) -> None:
    engine = engine_for(whitelist_only)
    report = UrlVerdicts(engine, FailurePolicy()).report(EVERY_LIST_BLOCKS, "http://x.example/")
    assert report.verdict is not None and report.ruling is not None
    assert report.verdict.reason == "blanket block: only exceptions are allowed"
    assert report.verdict.category == "whitelist only"
    assert report.ruling.hit.entry == "**"
    assert report.ruling.hit.source == f"{whitelist_only}/bannedsitelist:3"
    # a listed site still names its own entry, the blanket block comes after it
    listed = UrlVerdicts(engine, FailurePolicy()).report(EVERY_LIST_BLOCKS,
                                                         "http://bad.example/")
    assert listed.ruling is not None and listed.ruling.hit.entry == "bad.example"


@pytest.mark.parametrize(("switch", "url", "expected"), [
    ("*ip", "http://203.0.113.7/", True),
    ("*ip", "http://3405803783/", True),              # every IPv4 spelling
    ("*ip", "http://[2001:db8::1]/x", True),
    ("*ip", "203.0.113.7:443", True),                 # e2guardian: tunnels too
    ("*ip", "http://example.com/", False),
    ("*ips", "203.0.113.7:443", True),                # *ips is *ip (startsWith)
    ("*ips", "http://203.0.113.7/", True),
    ("**s", "example.com:443", True),
    ("**s", "http://example.com/", False),
    ("**ips", "203.0.113.7:443", True),
    ("**ips", "http://203.0.113.7/", False),
    ("**ips", "example.com:443", False),
])
def test_ip_and_tunnel_switches(write_tree, switch: str, url: str, expected: bool) -> None:
    root = write_tree({"bannedsitelist": f"{switch}\nlisted.example\n"})
    assert blocked(engine_for(root / "bannedsitelist"), url) is expected


def test_a_tunnel_and_a_request_to_the_same_host_are_cached_apart(write_tree) -> None:
    root = write_tree({"bannedsitelist": "**s\nlisted.example\n"})
    engine = engine_for(root / "bannedsitelist", cache_size=100)
    assert not blocked(engine, "http://example.com/")
    assert blocked(engine, "example.com:443")
    assert not blocked(engine, "http://example.com/")


def test_double_star_in_an_exception_list_allows_everything(write_tree) -> None:
    root = write_tree({"e2g/exceptionsitelist": "**\n", "e2g/bannedsitelist": "bad.example\n"})
    assert not blocked(engine_for(root / "e2g"), "http://bad.example/")


@pytest.mark.parametrize(("files", "warning"), [
    ({"adult/domains": "**\nx.example\n"}, "only work in e2guardian lists"),
    ({"bannedsitelist": ".Include<more>\n", "more": "**\nx.example\n"},
     "e2guardian ignores blanket switches in included files"),
    ({"bannedsitelist": "**ip\nx.example\n"}, "not an e2guardian blanket switch"),
])
def test_switches_e2guardian_would_not_honour_are_warnings(
        write_tree, files: dict[str, str], warning: str) -> None:
    root = write_tree(files)
    source = root / ("adult" if "adult/domains" in files else "bannedsitelist")
    report = load_lists(MemoryStore(), [source])
    assert report.rules == [] and report.errors == 0
    assert [p.severity for p in report.problems] == ["warning"]
    assert warning in str(report.problems[0])
    assert not blocked(engine_for(source), "http://unlisted.example/")
