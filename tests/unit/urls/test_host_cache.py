"""The decision cache answers per host when no URL entry lives under the host."""

from __future__ import annotations

from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.loader import load_lists
from icapfilter.urls.store import MemoryStore


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    def lookup(self, hashes):
        self.lookups += 1
        return super().lookup(hashes)


def make(tmp_path) -> tuple[UrlEngine, CountingStore]:
    folder = tmp_path / "adult"
    folder.mkdir()
    (folder / "domains").write_text("bad.test\n")
    (folder / "urls").write_text("mixed.test/bad\n")
    store = CountingStore()
    load_lists(store, [tmp_path])
    return UrlEngine(store), store


def test_host_without_url_entries_is_decided_once_for_all_paths(tmp_path):
    engine, store = make(tmp_path)
    assert [h.category for h in engine.lookup("http://x.bad.test/a")] == ["adult"]
    assert [h.category for h in engine.lookup("http://x.bad.test/b?q=1")] == ["adult"]
    assert engine.lookup("http://clean.test/1") == []
    assert engine.lookup("http://clean.test/2") == []
    assert store.lookups == 2


def test_host_with_url_entries_is_still_decided_per_url(tmp_path):
    engine, store = make(tmp_path)
    assert engine.lookup("http://mixed.test/good") == []
    assert [h.entry for h in engine.lookup("http://www.mixed.test/bad/page")] == ["mixed.test/bad"]
    assert engine.lookup("http://mixed.test/good") == []
    assert store.lookups == 2


def test_host_marks_are_not_counted_as_entries(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "urls").write_text("a.test/x\na.test/y\n")
    report = load_lists(MemoryStore(), [tmp_path])
    assert report.unique_keys == 2 and report.host_marks == 1
