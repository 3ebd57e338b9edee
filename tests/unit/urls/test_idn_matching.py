"""IDN hosts are one form in lists and requests: UTS #46 non-transitional
(as browsers), never Python's IDNA 2003 codec, so a list entry and the host a
browser connects to agree where the two standards part."""

from __future__ import annotations

import pytest

from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.errors import InvalidUrl
from icapfilter.urls.loader import load_lists
from icapfilter.urls.store import MemoryStore

LIST = "straße.de\nσοφος.gr\n\u0915\u094d\u200d\u0937.example\n"


@pytest.fixture
def engine(write_tree) -> UrlEngine:
    root = write_tree({"adult/domains": LIST + "a\u200db.example\n"})
    store = MemoryStore()
    report = load_lists(store, [root])
    assert report.errors == 1 and "adult/domains:4" in str(report.problems[0])
    assert "joiner" in str(report.problems[0])
    return UrlEngine(store, cache_size=0)


@pytest.mark.parametrize(("url", "listed"), [
    ("http://straße.de/", True),
    ("http://STRAẞE.DE/", True),
    ("http://xn--strae-oqa.de/", True),        # what a browser sends for straße.de
    ("http://strasse.de/", False),             # another domain (IDNA 2003 confused them)
    ("http://ΣΟΦΟΣ.gr/", False),               # uppercase final sigma is σ: another name
    ("http://σοφος.gr/", True),
    ("http://xn--0xaajbq.gr/", True),
    ("http://\u0915\u094d\u200d\u0937.example/", True),
    ("http://\u0915\u094d\u0937.example/", False),   # without the joiner: another name
])
def test_lists_and_requests_use_uts46(engine: UrlEngine, url: str, listed: bool) -> None:
    assert bool(engine.lookup(url)) is listed


def test_a_request_host_with_a_misplaced_joiner_is_unparseable(engine: UrlEngine) -> None:
    with pytest.raises(InvalidUrl, match="joiner"):
        engine.lookup("http://a\u200db.example/")
