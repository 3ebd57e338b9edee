"""The compiled list image: format, mapping, lookups, staleness, damage, switching."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.errors import LoadError
from icapfilter.urls.image import HEADER_SIZE, ImageError, open_image
from icapfilter.urls.image_cache import CacheUnavailable, build_lock, image_name
from icapfilter.urls.image_config import in_process_store
from icapfilter.urls.image_progress import ProgressLog, describe
from icapfilter.urls.image_store import ImageStore, open_image_store
from icapfilter.urls.loader import build_table, load_lists
from icapfilter.urls.memory_store import MemoryStore
from icapfilter.urls.model import ids_tuple
from icapfilter.urls.report import LoadReport

TREE = {
    "BL/adult/domains": "bad.test\nporn.example.org\nshared.test\n",
    "BL/adult/urls": "good.test/adult/page\nshared.test/x\n",
    "BL/gambling/domains": "casino.test\nshared.test\n",
    "BL/exceptions/exceptionsitelist": "safe.bad.test\n",
}


def image_of(root: Path, **kwargs: object) -> tuple[ImageStore, LoadReport, bool]:
    return open_image_store([str(root / "BL")], **kwargs)  # type: ignore[arg-type]


def image_file(root: Path) -> Path:
    return root / "BL" / ".icapfilter-cache" / f"{image_name([str(root / 'BL')])}.img"


def test_image_answers_exactly_the_ids_of_the_dict_table(write_tree):
    root = write_tree(TREE)
    store, report, built = image_of(root)
    table, categories = build_table([root / "BL"], LoadReport())
    assert built and report.entries == 8 and report.unique_keys == len(table) - report.host_marks
    generation, found = store.lookup(list(table))
    assert generation == store.current_generation()
    assert found == [ids_tuple(ids) for ids in table.values()]
    assert store.info().categories == categories  # type: ignore[union-attr]


def test_a_second_open_maps_the_same_file_without_building(write_tree):
    root = write_tree(TREE)
    first, _, built_first = image_of(root)
    second, report, built_second = image_of(root)
    assert (built_first, built_second) == (True, False)
    assert second.current_generation() == first.current_generation()
    assert report.entries == 8 and report.counts["adult"] == 5


def test_an_edited_list_makes_the_image_stale(write_tree):
    root = write_tree(TREE)
    old, _, _ = image_of(root)
    (root / "BL/adult/domains").write_text("bad.test\nnew.test\n")
    new, _, built = image_of(root)
    assert built and new.current_generation() != old.current_generation()
    engine = UrlEngine(new, cache_size=0)
    assert [h.category for h in engine.lookup("http://new.test/")] == ["adult"]
    assert engine.lookup("http://porn.example.org/") == []


def test_an_edited_include_makes_the_image_stale(write_tree):
    root = write_tree({"BL/bannedsitelist": ".Include<more>\n", "BL/more": "a.test\n"})
    image_of(root)
    (root / "BL/more").write_text("a.test\nb.test\n")
    store, _, built = image_of(root)
    assert built
    assert UrlEngine(store, cache_size=0).lookup("http://b.test/")


def test_a_new_category_folder_makes_the_image_stale(write_tree):
    root = write_tree(TREE)
    image_of(root)
    write_tree({"BL/drugs/domains": "weed.test\n"})
    store, _, built = image_of(root)
    assert built and store.info().counts["drugs"] == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("damage, reason", [
    (lambda data: data[:-3], "truncated"),
    (lambda data: data[:HEADER_SIZE - 1], "truncated"),
    (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "checksum mismatch"),
    (lambda data: b"garbage!" + data[8:], "not a list image"),
    (lambda data: data + b"\0", "trailing bytes"),
])
def test_a_damaged_image_is_a_clear_error_and_is_rebuilt(write_tree, caplog, damage, reason):
    root = write_tree(TREE)
    image_of(root)
    path = image_file(root)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ImageError, match=reason):
        open_image(path)
    with caplog.at_level(logging.INFO, logger="icapfilter.lists"):
        store, _, built = image_of(root)
    assert built and len(store.image) > 0
    assert "rebuilding" in caplog.text
    open_image(path).close()  # intact again


def test_the_switch_is_a_rename_and_a_mapped_old_image_keeps_answering(write_tree):
    root = write_tree(TREE)
    old, _, _ = image_of(root)
    old_inode = os.stat(image_file(root)).st_ino
    (root / "BL/adult/domains").write_text("other.test\n")
    new, _, _ = image_of(root)
    assert os.stat(image_file(root)).st_ino != old_inode
    assert UrlEngine(old, cache_size=0).lookup("http://bad.test/")  # old map intact
    assert not UrlEngine(new, cache_size=0).lookup("http://bad.test/")
    assert not list(image_file(root).parent.glob("*.tmp*"))


def test_a_builder_waits_for_the_one_holding_the_lock(write_tree):
    root = write_tree(TREE)
    folder = root / "BL" / ".icapfilter-cache"
    folder.mkdir(parents=True)
    done = threading.Event()
    with build_lock(folder, image_name([str(root / "BL")])):
        thread = threading.Thread(target=lambda: (image_of(root), done.set()))
        thread.start()
        assert not done.wait(0.3)
    thread.join(timeout=30)
    assert done.is_set()


def test_strict_refuses_an_image_with_bad_lines(write_tree):
    root = write_tree({"BL/adult/domains": "ok.test\nbad host name\n"})
    with pytest.raises(LoadError, match="strict mode: 1 bad line"):
        image_of(root, strict=True)
    image_of(root)  # built without strict
    with pytest.raises(LoadError, match="strict mode"):
        image_of(root, strict=True)


def test_a_missing_source_is_a_load_error_and_nothing_is_written(tmp_path):
    with pytest.raises(LoadError, match="no such file"):
        open_image_store([str(tmp_path / "nope")], configured_dir=str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("*.img"))


def test_the_configured_folder_is_used(write_tree, tmp_path):
    root = write_tree(TREE)
    image_of(root, configured_dir=str(tmp_path / "state"))
    assert list((tmp_path / "state").glob("lists-*.img"))


def test_without_a_usable_folder_the_dict_store_serves(write_tree, monkeypatch, caplog):
    root = write_tree(TREE)
    (root / "file").write_text("x")

    class Lists:
        paths = [str(root / "BL")]
        strict = False
        image = True
        cache_dir = str(root / "file" / "sub")  # under a file: never a folder

    with pytest.raises(CacheUnavailable):
        image_of(root, configured_dir=Lists.cache_dir)
    store, report = in_process_store(Lists, None, load_lists)
    assert isinstance(store, MemoryStore) and report.entries == 8
    assert "no list image" in caplog.text


def test_progress_names_entries_per_cent_and_rate(caplog):
    assert describe("read", 600_000, 1_800_000, 3.0) == \
        "600,000 of about 1,800,000 entries read (33%), 200,000/s"
    lines: list[str] = []
    progress = ProgressLog(logging.getLogger("t"), every=0.0, echo=lines.append)
    with caplog.at_level(logging.INFO, logger="t"):
        progress("read", 50_000, 100_000)
    assert "50,000 of about 100,000 entries read (50%)" in caplog.text and lines


LABEL = st.text("abcdefghij", min_size=1, max_size=6)
HOST = st.builds(lambda a, b: f"{a}.{b}", LABEL, st.sampled_from(["test", "org", "co.uk"]))
ENTRY = st.one_of(HOST, st.builds(lambda h, p: f"{h}/{p}", HOST, LABEL))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lists=st.dictionaries(st.sampled_from(["adult", "games", "news"]),
                             st.lists(ENTRY, max_size=30), min_size=1),
       probes=st.lists(st.one_of(ENTRY, HOST), max_size=20))
def test_verdicts_equal_the_dict_store_on_generated_lists(tmp_path_factory, lists, probes):
    root = tmp_path_factory.mktemp("gen")
    for category, entries in lists.items():
        folder = root / "BL" / category
        folder.mkdir(parents=True)
        (folder / "domains").write_text("\n".join(e for e in entries if "/" not in e) + "\n")
        (folder / "urls").write_text("\n".join(e for e in entries if "/" in e) + "\n")
    every = [e for entries in lists.values() for e in entries]
    if not every:
        return
    dict_store = MemoryStore()
    load_lists(dict_store, [root / "BL"])
    image_store, _, _ = image_of(root)
    old, new = UrlEngine(dict_store, cache_size=0), UrlEngine(image_store, cache_size=0)
    for probe in [*every, *probes, *(f"www.{e}" for e in every)]:
        for url in (f"http://{probe}", f"http://{probe}/deeper?q=1"):
            assert new.lookup(url) == old.lookup(url), url


def test_lookups_of_unlisted_hashes_find_nothing(write_tree):
    import random

    root = write_tree(TREE)
    store, _, _ = image_of(root)
    rng = random.Random(5)
    hashes = [rng.getrandbits(64) for _ in range(20_000)] + [0, (1 << 64) - 1]
    assert not any(store.lookup(hashes)[1])


def test_building_takes_no_longer_than_a_dict_load(write_tree):
    """Not a benchmark: a guard against a build that got quadratic."""
    lines = "\n".join(f"host{i}.example{i % 7}.test" for i in range(20_000))
    root = write_tree({"BL/adult/domains": lines})
    started = time.perf_counter()
    load_lists(MemoryStore(), [root / "BL"])
    dict_time = time.perf_counter() - started
    started = time.perf_counter()
    image_of(root)
    assert time.perf_counter() - started < 3 * dict_time + 0.5


def test_regex_and_blanket_rules_travel_in_the_image(write_tree):
    root = write_tree({"BL/adult/domains": "bad.test\n", "BL/adult/expressions": "casino\n"})
    image_of(root)
    store, report, built = image_of(root)
    assert not built and len(report.rules) == 1
    hits = UrlEngine(store, cache_size=0).lookup("http://www.casino-royal.test/")
    assert [(h.category, h.entry) for h in hits] == [("adult", "casino")]


def test_a_list_of_rules_only_makes_an_image_without_keys(write_tree):
    root = write_tree({"BL/adult/expressions": "casino\n"})
    store, _, _ = image_of(root)
    assert len(store.image) == 0 and store.lookup([1, 2]) == (store.current_generation(), [(), ()])


def test_an_image_that_cannot_be_written_leaves_the_dict_store_serving(write_tree, monkeypatch,
                                                                          caplog):
    import icapfilter.urls.image_store as image_store

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image_store, "build_image", full)
    root = write_tree(TREE)

    class Lists:
        paths = [str(root / "BL")]
        strict = False
        image = True
        cache_dir = ""

    store, report = in_process_store(Lists, None, load_lists)
    assert isinstance(store, MemoryStore) and report.entries == 8
    assert "No space left" in caplog.text
    assert not list((root / "BL" / ".icapfilter-cache").glob("*.tmp*"))


def test_another_parser_version_makes_the_image_stale(write_tree, monkeypatch):
    import icapfilter.urls.image_cache as image_cache

    root = write_tree(TREE)
    image_of(root)
    monkeypatch.setattr(image_cache, "_code_key", b"another normalizer".ljust(16, b"\0"))
    _, _, built = image_of(root)
    assert built


def test_an_image_in_a_folder_this_user_cannot_write_is_mapped_if_current(
        write_tree, tmp_path, monkeypatch):
    import icapfilter.urls.image_store as image_store

    root = write_tree(TREE)
    _, _, built = image_of(root)  # by "the server", beside the lists
    beside = root / "BL" / ".icapfilter-cache"
    real_access = os.access
    monkeypatch.setattr(image_store.os, "access",  # now "a helper of another user"
                        lambda path, mode: False if Path(path) == beside else
                        real_access(path, mode))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    store, _, built = image_of(root)
    assert not built and store.image.path.parent == beside
    (root / "BL/adult/domains").write_text("new.test\n")  # stale there: built where we can
    store, _, built = image_of(root)
    assert built and store.image.path.parent == tmp_path / "xdg" / "icapfilter"
    assert oct(os.stat(beside).st_mode & 0o777) == "0o755"


@pytest.mark.skipif(os.getuid() != 0, reason="gives a folder to another user")
def test_the_configured_folder_may_belong_to_the_servers_user(write_tree, tmp_path,
                                                               monkeypatch):
    import icapfilter.urls.image_store as image_store

    root = write_tree(TREE)
    state = tmp_path / "state"
    image_of(root, configured_dir=str(state))  # "the server", then its folder is its own
    os.chown(state, 65534, 65534)
    real_access = os.access
    monkeypatch.setattr(image_store.os, "access",
                        lambda path, mode: False if Path(path) == state else
                        real_access(path, mode))
    store, _, built = image_of(root, configured_dir=str(state))
    assert not built and store.image.path.parent == state
    os.chmod(state, 0o777)  # anyone could have forged it: not mapped, and not ours to write
    with pytest.raises(CacheUnavailable):
        image_of(root, configured_dir=str(state))


@pytest.mark.parametrize("including", [
    "\ufeff.Include<more>\n",  # a file saved with a byte-order mark
    "\v.Include<more>\f\n",  # whitespace the parser strips
    ".Include<more>\r\n",
])
def test_an_edited_include_makes_the_image_stale_however_the_include_line_is_written(
        write_tree, including):
    root = write_tree({"BL/bannedsitelist": including, "BL/more": "a.test\n"})
    store, _, _ = image_of(root)
    assert UrlEngine(store, cache_size=0).lookup("http://a.test/")  # the parser follows it
    (root / "BL/more").write_text("a.test\nb.test\n")
    store, _, built = image_of(root)
    assert built and UrlEngine(store, cache_size=0).lookup("http://b.test/")


def test_the_image_is_writable_by_its_owner_only_whatever_the_umask(write_tree):
    root = write_tree(TREE)
    old = os.umask(0o002)
    try:
        image_of(root)
    finally:
        os.umask(old)
    assert os.stat(image_file(root)).st_mode & 0o777 == 0o644


@pytest.mark.skipif(os.getuid() != 0, reason="gives a folder to another user")
def test_root_building_in_the_servers_folder_leaves_the_lock_to_that_user(write_tree, tmp_path):
    root = write_tree(TREE)
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 65534, 65534)
    image_of(root, configured_dir=str(state))  # `icapfilter lists load` as root
    (lock,) = state.glob("*.lock")
    assert (lock.stat().st_uid, lock.stat().st_gid) == (65534, 65534)


def test_systemds_cache_directory_comes_before_the_private_temporary_folder(tmp_path, monkeypatch):
    from icapfilter.urls.image_cache import candidate_dirs

    lists = tmp_path / "lists"
    lists.mkdir()
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "cache"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    found = candidate_dirs([str(lists)])
    assert found[1] == tmp_path / "cache"
    assert found.index(tmp_path / "cache") < len(found) - 1  # the temporary folder stays last
    monkeypatch.delenv("CACHE_DIRECTORY")
    assert tmp_path / "cache" not in candidate_dirs([str(lists)])


def test_a_build_lock_held_too_long_leaves_the_dict_store_serving(write_tree, monkeypatch,
                                                                    caplog):
    import fcntl

    import icapfilter.urls.image_cache as image_cache

    root = write_tree(TREE)
    folder = root / "BL" / ".icapfilter-cache"
    folder.mkdir(parents=True)
    holder = os.open(folder / f"{image_name([str(root / 'BL')])}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a `lists load` stopped in a terminal
    monkeypatch.setattr(image_cache, "LOCK_TIMEOUT", 0.3)

    class Lists:
        paths = [str(root / "BL")]
        strict = False
        image = True
        cache_dir = ""

    try:
        store, report = in_process_store(Lists, None, load_lists)
    finally:
        os.close(holder)
    assert isinstance(store, MemoryStore) and report.entries == 8
    assert "build lock for over 0s" in caplog.text
