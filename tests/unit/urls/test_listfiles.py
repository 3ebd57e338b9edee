from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from icapfilter.urls.errors import LoadError
from icapfilter.urls.listfiles import ListEntry, read_sources
from icapfilter.urls.report import LoadReport


def read(*sources: Path) -> tuple[list[ListEntry], LoadReport]:
    report = LoadReport()
    return list(read_sources(sources, report)), report


def by_category(entries: list[ListEntry]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in entries:
        out.setdefault(("!" if e.exception else "") + e.category, set()).add(e.key)
    return out


def make_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


UT1 = {
    "blacklists/porn/domains": (
        "# comment\n\nexample.com\r\n.Leading.ORG\nwww.prefixed.net\nbücher.de\n"
    ),
    "blacklists/porn/urls": "foo.com/~badguy\nhttp://www.bar.com/bad/\n",
    "blacklists/porn/expressions": "(sex|porn)\n",
    "blacklists/porn/usage": "black\n",
    "blacklists/gambling/domains": "casino.example\n",
}


def test_ut1_folder(write_tree) -> None:
    root = write_tree(UT1)
    entries, report = read(root / "blacklists")
    assert by_category(entries) == {
        "porn": {
            "d:example.com",
            "d:leading.org",
            "d:prefixed.net",
            "d:xn--bcher-kva.de",
            "u:foo.com/~badguy",
            "u:bar.com/bad",
        },
        "gambling": {"d:casino.example"},
    }
    assert [(r.kind, r.text, r.category, r.where) for r in report.rules] == [
        ("regex", "(sex|porn)", "porn", f"{root}/blacklists/porn/expressions:1")]
    assert report.problems == []


def test_ut1_archive_streams_without_extracting(tmp_path: Path) -> None:
    files = {name.replace("blacklists", "BL"): data.encode() for name, data in UT1.items()}
    files["BL/../../evil/domains"] = b"evil.example\n"  # names are never used as paths
    archive = make_tar(tmp_path / "bl.tar.gz", files)
    entries, report = read(archive)
    cats = by_category(entries)
    assert cats["porn"] >= {"d:example.com", "u:foo.com/~badguy"}
    assert cats["gambling"] == {"d:casino.example"}
    assert cats["evil"] == {"d:evil.example"}
    assert not (tmp_path / "BL").exists()
    assert [(r.text, r.category) for r in report.rules] == [("(sex|porn)", "porn")]
    assert report.warnings == 0


def test_archive_symlink_members_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bl.tgz"
    with tarfile.open(path, "w:gz") as tar:
        link = tarfile.TarInfo("BL/x/domains")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
        info = tarfile.TarInfo("BL/y/domains")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"y.com\n"))
    entries, _ = read(path)
    assert by_category(entries) == {"y": {"d:y.com"}}


def test_corrupt_archive_is_a_load_error(tmp_path: Path) -> None:
    lines = "".join(f"host{i * 7919 % 100003}.example\n" for i in range(20000)).encode()
    good = make_tar(tmp_path / "good.tar.gz", {"BL/a/domains": lines})
    broken = tmp_path / "broken.tar.gz"
    data = good.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError, match="cannot read archive"):
        read(broken)
    garbage = tmp_path / "garbage.tgz"
    garbage.write_bytes(b"not a tar at all")
    with pytest.raises(LoadError, match="cannot read archive"):
        read(garbage)


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file"):
        read(tmp_path / "nope")


def test_squidguard_files(write_tree) -> None:
    root = write_tree(
        {
            "db/ads/domainlist": "ads.example\n",
            "db/ads/urllist": "tracker.example/pixel\nwww.host-only.example\n",
        }
    )
    entries, _ = read(root / "db")
    assert by_category(entries) == {
        "ads": {"d:ads.example", "u:tracker.example/pixel", "u:host-only.example"}
    }


def test_dansguardian_includes_and_listcategory(write_tree) -> None:
    root = write_tree(
        {
            "dg/lists/bannedsitelist": (
                '#listcategory: "Local bans"\n'
                "local.example\n"
                ".Include<../blacklists/porn/domains>\n"
                ".Include<__LISTDIR__/extra/sites>\n"
                "after.example\n"
                "**\n"
            ),
            "dg/lists/extra/sites": '#listcategory: "Extra"\nextra.example\n',
            "dg/blacklists/porn/domains": "porn.example\n",
            "dg/lists/bannedurllist": "bad.example/path\n",
            "dg/lists/exceptionsitelist": '#listcategory: "Whitelist"\ngood.example\n',
            "dg/lists/exceptionurllist": "bad.example/path/ok\n",
        }
    )
    entries, report = read(root / "dg" / "lists")
    assert by_category(entries) == {
        "Local bans": {"d:local.example", "d:after.example"},
        "porn": {"d:porn.example"},
        "Extra": {"d:extra.example"},
        "bannedurllist": {"u:bad.example/path"},
        "!Whitelist": {"d:good.example"},
        "!exceptionurllist": {"u:bad.example/path/ok"},
    }
    assert report.errors == 0
    assert report.warnings == 0
    assert [(r.kind, r.text, r.category, r.exception) for r in report.rules] == [
        ("blanket", "**", "Local bans", False)]


def test_missing_include_is_reported_with_location(write_tree) -> None:
    root = write_tree({"bannedsitelist": "a.example\n.Include<missing/file>\nb.example\n"})
    entries, report = read(root / "bannedsitelist")
    assert {e.key for e in entries} == {"d:a.example", "d:b.example"}
    assert report.errors == 1
    assert str(report.problems[0]).startswith(f"{root}/bannedsitelist:2: cannot include")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_include_of_a_device_or_fifo_is_reported_not_read(write_tree, target) -> None:
    root = write_tree({"bannedsitelist": f"a.example\n.Include<{target}>\nb.example\n"})
    os.mkfifo(root / "fifo")  # nobody writes to it: reading would block forever
    entries, report = read(root / "bannedsitelist")
    assert {e.key for e in entries} == {"d:a.example", "d:b.example"}
    assert report.errors == 1
    assert str(report.problems[0]).endswith(": not a regular file")


@pytest.mark.timeout(10)
def test_a_list_source_that_is_a_device_is_a_load_error(tmp_path) -> None:
    with pytest.raises(LoadError, match="not a regular file"):
        read(Path("/dev/zero"))


def test_include_cycle_is_reported(write_tree) -> None:
    root = write_tree({"bannedsitelist": "a.example\n.Include<bannedsitelist>\n"})
    entries, report = read(root / "bannedsitelist")
    assert [e.key for e in entries] == ["d:a.example"]
    assert "include cycle" in report.problems[0].message


def test_bad_lines_are_reported_and_skipped(write_tree) -> None:
    content = (
        b"good.example\n"
        b"bad\xff.example\n"
        b"spa ce.example\n"
        b"ctl\x01.example\n" + b"x" * 3000 + b".com\n" + b"in-valid-.example\n"
        b"also-good.example # trailing comment\n"
    )
    root = write_tree({"BL/cat/domains": content})
    entries, report = read(root / "BL")
    assert [e.key for e in entries] == ["d:good.example", "d:also-good.example"]
    assert report.errors == 5
    where = [str(p).split(": ")[0] for p in report.problems]
    assert where == [f"{root}/BL/cat/domains:{n}" for n in (2, 3, 4, 5, 6)]
    assert "invalid UTF-8" in report.problems[0].message
    assert "longer than" in report.problems[3].message


def test_bom_crlf_and_explicit_file_category(write_tree) -> None:
    root = write_tree({"mylist.txt": b"\xef\xbb\xbfone.example\r\ntwo.example/p\r\n"})
    entries, _ = read(root / "mylist.txt")
    assert by_category(entries) == {"mylist": {"d:one.example", "u:two.example/p"}}


def test_folder_without_lists_is_an_error(write_tree) -> None:
    root = write_tree({"empty/README": "nothing"})
    with pytest.raises(LoadError, match="no list files"):
        read(root / "empty")
