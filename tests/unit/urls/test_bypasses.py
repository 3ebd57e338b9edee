"""The spellings that used to get past a listed entry (issue 17), through the engine."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.loader import load_lists
from icapfilter.urls.normalize import candidates, normalize_entry, normalize_path
from icapfilter.urls.store import ListStore

LISTS = {
    "BL/adult/domains": "straße-adult.de\n203.0.113.7\nadultsite.com\n",
    "BL/adult/urls": (
        "deep-adult.com/a/b/c\n"
        "nest-adult.com/a\n"
        "nest-adult.com/x/y/z\n"
        "ftp.ftponly.com/z\n"
        "[2001:db8::7]/p\n"
    ),
    "BL/gamble/urls": "odds-gamble.com/index.php?page=odds&sport=\n",
}


@pytest.fixture
def engine(store: ListStore, write_tree) -> UrlEngine:
    root = write_tree(LISTS)
    report = load_lists(store, [root / "BL"])
    assert report.activated and report.errors == 0, report.problems
    return UrlEngine(store, cache_size=0)


def entries(engine: UrlEngine, url: str) -> list[str]:
    return [hit.entry for hit in engine.lookup(url)]


@pytest.mark.parametrize(("url", "entry"), [
    # ';' ends a path segment
    ("http://deep-adult.com/a/b/c;jsessionid=AB12", "deep-adult.com/a/b/c"),
    ("http://deep-adult.com/a/b/c;jsessionid=AB12/more", "deep-adult.com/a/b/c"),
    ("http://deep-adult.com/a/b/c%3Bx", "deep-adult.com/a/b/c"),
    # an entry's trailing '=' matches with more parameters after it
    ("http://odds-gamble.com/index.php?page=odds&sport=&extra=1",
     "odds-gamble.com/index.php?page=odds&sport"),
    ("http://odds-gamble.com/index.php?page=odds&sport=?x=1",
     "odds-gamble.com/index.php?page=odds&sport"),
    ("http://odds-gamble.com/index.php?page=odds&sport=;jsessionid=1",
     "odds-gamble.com/index.php?page=odds&sport"),
    ("http://odds-gamble.com/index.php?page=odds&sport=football",
     "odds-gamble.com/index.php?page=odds&sport"),
    # encoded delimiters are compared decoded, as a server that decodes them sees them
    ("http://nest-adult.com/x%2Fy%2Fz", "nest-adult.com/x/y/z"),
    ("http://nest-adult.com/x%2fy/z/more", "nest-adult.com/x/y/z"),
    ("http://odds-gamble.com/index.php%3Fpage=odds%26sport%3D%26x=1",
     "odds-gamble.com/index.php?page=odds&sport"),
    ("http://nest-adult.com/q/..%2F..%2Fa", "nest-adult.com/a"),
    ("http://nest-adult.com/q/..;/a", "nest-adult.com/a"),
    ("http://nest-adult.com\\a", "nest-adult.com/a"),
    # www/web/ftp labels with digits are stripped from request hosts
    ("http://web2.nest-adult.com/a", "nest-adult.com/a"),
    ("http://ftp3.nest-adult.com/a/b", "nest-adult.com/a"),
    ("http://www1.web.nest-adult.com/a", "nest-adult.com/a"),
    # ... while an entry's own such label still matches
    ("http://www.ftp.ftponly.com/z", "ftponly.com/z"),
    ("http://ftp.ftponly.com/z", "ftponly.com/z"),
    # every IPv4 spelling of a listed address
    ("http://3405803783/", "203.0.113.7"),
    ("http://0313.0.0161.07/", "203.0.113.7"),
    ("http://0xcb.0x0.0x71.0x7/", "203.0.113.7"),
    ("http://0xcb007107:8080/", "203.0.113.7"),
    ("http://203.0.28935/", "203.0.113.7"),
    ("http://203.0.113.7./", "203.0.113.7"),
    ("http://[::ffff:203.0.113.7]/", "203.0.113.7"),
    ("http://[::ffff:cb00:7107]/", "203.0.113.7"),
    ("[::ffff:cb00:7107]:443", "203.0.113.7"),
    ("http://[2001:db8:0::7]/p/q", "[2001:db8::7]/p"),
    # IDNA 2008, and a percent-encoded host
    ("http://xn--strae-adult-y6a.de/", "xn--strae-adult-y6a.de"),
    ("http://www.Straße-Adult.de/", "xn--strae-adult-y6a.de"),
    ("http://%61dultsite.com/", "adultsite.com"),
    ("http://%41DULTSITE.com/", "adultsite.com"),
])
def test_listed_spellings_are_blocked(engine: UrlEngine, url: str, entry: str) -> None:
    assert entry in entries(engine, url)


@pytest.mark.parametrize("url", [
    "http://strasse-adult.de/",             # IDNA 2003 folded straße to this
    "http://deep-adult.com/a/b/cd",          # boundaries still count
    "http://odds-gamble.com/index.php?page=odds&sportsbook=1",
    "http://sub.ftponly.com/z",              # no other subdomains for URL entries
    "http://203.0.113.70/",
    "http://[2001:db8::7]/pq",
])
def test_neighbours_stay_unlisted(engine: UrlEngine, url: str) -> None:
    assert entries(engine, url) == []


def test_entries_are_normalized_like_requests() -> None:
    assert normalize_entry("odds-gamble.com/index.php?page=odds&sport=", "url") == \
        "u:odds-gamble.com/index.php?page=odds&sport"
    assert normalize_entry("a.example/x;", "url") == "u:a.example/x"
    assert normalize_entry("a.example?x=1", "url") == "u:a.example/?x=1"
    assert normalize_entry("http://0xcb.0.0x71.7/p", "url") == "u:203.0.113.7/p"
    assert normalize_entry("web2.www.a.example/p", "url") == "u:a.example/p"
    assert normalize_entry("www.web.de/p", "url") == "u:web.de/p"  # never down to a TLD


def test_a_long_query_entry_is_still_reached() -> None:
    entry = "cms.example/index.php?option=com_content&view=article&id=5&itemid=7&lang=de"
    key = normalize_entry(entry, "url")
    assert key in candidates("http://cms.example/index.php?option=com_content&view=article"
                             "&id=5&Itemid=7&lang=de&utm_source=a&utm_medium=b&utm_campaign=c")


# -- properties of the path rules ------------------------------------------------------

path_text = st.text(alphabet="ab/?&=;.%2F3fA~ä\\", max_size=24)


@given(path_text)
@settings(max_examples=400)
def test_path_normalization_is_idempotent(raw: str) -> None:
    once = normalize_path(raw)
    assert normalize_path(once) == once
    assert once == "" or (once.startswith("/") and once[-1] not in "/?&=;")


@given(path_text, st.sampled_from(["/", "?", "&", "=", ";", "%2F", "%3f", "%26", "%3D", "%3b"]),
       st.text(alphabet="xyz=&", max_size=6))
@settings(max_examples=400)
def test_an_entry_matches_itself_followed_by_any_boundary(raw: str, boundary: str,
                                                           more: str) -> None:
    path = normalize_path("/" + raw)
    assume(path)
    key = "u:listed.example" + path
    assert key in candidates(f"http://www.listed.example{path}{boundary}{more}")
    # ... and with the slashes of its path percent-encoded
    head, sep, query = path.partition("?")
    encoded = head[1:].replace("/", "%2F")
    assert key in candidates(f"http://listed.example/{encoded}{sep}{query}{boundary}{more}")
