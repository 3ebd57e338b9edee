"""The matching suite: runs against MemoryStore and RedisStore (see conftest ``store``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from icapfilter.urls.engine import UrlEngine, UrlHit
from icapfilter.urls.errors import InvalidUrl, LoadError
from icapfilter.urls.loader import load_lists
from icapfilter.urls.store import ListStore

LISTS = {
    "BL/porn/domains": "amex.com\nbad.org\nbücher.de\n10.0.0.1\n[2001:db8::1]\n",
    "BL/porn/urls": "foo.com/~badguy\nfoo.com/bad\nsearch.example/find?q=porn\n",
    "BL/shopping/domains": "amex.com\n",
    "BL/tracker/urls": "www.pixel.example/\n",
    "BL/subonly/domains": "deep.sub.example\n",
    "dg/exceptionsitelist": '#listcategory: "trusted"\ngood.bad.org\n',
}


@pytest.fixture
def engine(store: ListStore, write_tree) -> UrlEngine:
    root = write_tree(LISTS)
    report = load_lists(store, [root / "BL", root / "dg" / "exceptionsitelist"])
    assert report.activated and report.errors == 0
    return UrlEngine(store, cache_size=0)


def cats(engine: UrlEngine, url: str) -> list[tuple[str, str, bool]]:
    return [(h.category, h.entry, h.exception) for h in engine.lookup(url)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://amex.com/", [("porn", "amex.com", False), ("shopping", "amex.com", False)]),
        ("https://WWW.AMEX.COM./x", [("porn", "amex.com", False), ("shopping", "amex.com", False)]),
        ("http://a.b.amex.com/", [("porn", "amex.com", False), ("shopping", "amex.com", False)]),
        ("http://aamex.com/", []),
        ("http://amex.com.evil.net/", []),
        ("amex.com:443", [("porn", "amex.com", False), ("shopping", "amex.com", False)]),
        ("http://www2.foo.com/~badguy/x", [("porn", "foo.com/~badguy", False)]),
        ("http://foo.com/%7Ebadguy", [("porn", "foo.com/~badguy", False)]),
        ("http://bar.foo.com/~badguy", []),
        ("http://foo.com/bad", [("porn", "foo.com/bad", False)]),
        ("http://foo.com/bad/x", [("porn", "foo.com/bad", False)]),
        ("http://foo.com/bad?x=1", [("porn", "foo.com/bad", False)]),
        ("http://foo.com/BAD/", [("porn", "foo.com/bad", False)]),
        ("http://foo.com/badge", []),
        ("http://foo.com/", []),
        (
            "http://search.example/find?q=porn&page=2",
            [("porn", "search.example/find?q=porn", False)],
        ),
        ("http://search.example/find?q=pornography", []),
        ("http://pixel.example/anything", [("tracker", "pixel.example", False)]),
        ("http://web.pixel.example/", [("tracker", "pixel.example", False)]),
        ("http://sub.pixel.example/", []),
        ("http://xn--bcher-kva.de/", [("porn", "xn--bcher-kva.de", False)]),
        ("http://shop.BÜCHER.de/", [("porn", "xn--bcher-kva.de", False)]),
        ("http://10.0.0.1:8080/x", [("porn", "10.0.0.1", False)]),
        ("http://10.0.0.10/", []),
        ("http://[2001:DB8:0::1]/", [("porn", "[2001:db8::1]", False)]),
        ("[2001:db8::1]:443", [("porn", "[2001:db8::1]", False)]),
        ("http://deep.sub.example/", [("subonly", "deep.sub.example", False)]),
        ("http://sub.example/", []),
        ("http://x.good.bad.org/", [("trusted", "good.bad.org", True), ("porn", "bad.org", False)]),
    ],
)
def test_matching_rules(engine: UrlEngine, url: str, expected: list) -> None:
    assert cats(engine, url) == expected


def test_most_specific_first(store: ListStore, write_tree) -> None:
    root = write_tree(
        {
            "BL/a/domains": "example.com\n",
            "BL/b/domains": "www.sub.example.com\n",
            "BL/c/urls": "sub.example.com/x\nsub.example.com/x/y\n",
        }
    )
    load_lists(store, [root / "BL"])
    hits = UrlEngine(store).lookup("http://sub.example.com/x/y/z")
    assert hits == [
        UrlHit("c", "sub.example.com/x/y", False),
        UrlHit("c", "sub.example.com/x", False),
        UrlHit("b", "sub.example.com", False),
        UrlHit("a", "example.com", False),
    ]


def test_invalid_url_raises(engine: UrlEngine) -> None:
    with pytest.raises(InvalidUrl):
        engine.lookup("http://exa mple.com/")


def test_nothing_loaded_matches_nothing(store: ListStore) -> None:
    engine = UrlEngine(store)
    assert engine.lookup("http://amex.com/") == []
    assert engine.generation is None


def test_reload_switches_and_invalidates_cache(store: ListStore, write_tree) -> None:
    first = write_tree({"one/c1/domains": "x.example\n"})
    load_lists(store, [first / "one"])
    engine = UrlEngine(store, cache_size=100)
    gen1 = engine.generation
    assert [h.category for h in engine.lookup("http://x.example/")] == ["c1"]
    assert [h.category for h in engine.lookup("http://x.example/")] == ["c1"]  # cached
    second = write_tree({"two/c2/domains": "x.example\n"})
    report = load_lists(store, [second / "two"])
    assert engine.generation == report.generation != gen1
    assert [h.category for h in engine.lookup("http://x.example/")] == ["c2"]
    info = store.info()
    assert info is not None and info.generation == report.generation
    assert info.counts == {"c2": 1}


def _assert_still_first(store: ListStore, gen: str | None) -> None:
    assert store.current_generation() == gen
    assert [h.category for h in UrlEngine(store).lookup("http://keep.example/")] == ["keep"]


@pytest.fixture
def loaded(store: ListStore, write_tree) -> tuple[ListStore, str | None, Path]:
    root = write_tree({"keep/keep/domains": "keep.example\n"})
    report = load_lists(store, [root / "keep"])
    return store, report.generation, root


def test_failed_load_missing_file_keeps_old(loaded) -> None:
    store, gen, root = loaded
    with pytest.raises(LoadError, match="no such file") as err:
        load_lists(store, [root / "keep", root / "missing.tar.gz"])
    assert err.value.report is not None and not err.value.report.activated
    _assert_still_first(store, gen)


def test_failed_load_corrupt_archive_keeps_old(loaded) -> None:
    store, gen, root = loaded
    (root / "bad.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(LoadError, match="cannot read archive"):
        load_lists(store, [root / "bad.tar.gz"])
    _assert_still_first(store, gen)


def test_failed_load_no_entries_keeps_old(loaded, write_tree) -> None:
    store, gen, _ = loaded
    root = write_tree({"empty/cat/domains": "# only comments\n\n"})
    with pytest.raises(LoadError, match="no entries"):
        load_lists(store, [root / "empty"])
    _assert_still_first(store, gen)


def test_bad_lines_activate_the_rest_but_strict_refuses(loaded, write_tree) -> None:
    store, gen, _ = loaded
    root = write_tree({"mixed/cat/domains": b"ok.example\nnot valid\nok2.example\n\xff\n"})
    with pytest.raises(LoadError, match="strict") as err:
        load_lists(store, [root / "mixed"], strict=True)
    assert err.value.report is not None and err.value.report.errors == 2
    _assert_still_first(store, gen)

    report = load_lists(store, [root / "mixed"])
    assert report.activated and report.errors == 2
    assert [str(p) for p in report.problems] == [
        f"{root}/mixed/cat/domains:2: control character or whitespace in entry: 'not valid'",
        f"{root}/mixed/cat/domains:4: invalid UTF-8",
    ]
    assert report.counts == {"cat": 2}
    engine = UrlEngine(store)
    assert [h.category for h in engine.lookup("http://ok2.example/")] == ["cat"]
    assert engine.lookup("http://keep.example/") == []


def test_report_counts(store: ListStore, write_tree) -> None:
    root = write_tree(LISTS)
    report = load_lists(store, [root / "BL", root / "dg"])
    assert report.counts == {"porn": 8, "shopping": 1, "tracker": 1, "subonly": 1, "trusted": 1}
    assert report.entries == 12 and report.exceptions == 1
    assert report.unique_keys == 11  # amex.com is in two categories
    assert "trusted (exception): 1" in report.summary()
