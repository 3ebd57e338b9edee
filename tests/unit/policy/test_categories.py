"""Category names of block/allow against the lists: UT1 aliases, hints."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from icapfilter.config import GroupConfig
from icapfilter.policy.categories import (
    KnownCategories,
    category_aliases,
    category_problems,
    explain,
)

KNOWN = KnownCategories(frozenset({"adult", "gambling", "games", "malware"}),
                        {"porn": "adult"}, frozenset({"phrases", "Banned words"}))


def ut1_tree(root: Path) -> Path:
    for category in ("adult", "gambling"):
        (root / category).mkdir(parents=True)
        (root / category / "domains").write_text(f"{category}.example\n")
    (root / "porn").symlink_to("adult")
    (root / "sex").symlink_to("porn")  # a link to a link
    return root


def test_symlinked_folders_of_a_tree_are_aliases_of_their_target(tmp_path):
    assert category_aliases([str(ut1_tree(tmp_path / "bl"))]) == {"porn": "adult",
                                                                  "sex": "adult"}


def archive(path: Path, links: tuple[tuple[str, str], ...]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        data = b"adult.example\n"
        info = tarfile.TarInfo("blacklists/adult/domains")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tar.addfile(link)
    return path


def test_symlink_members_of_an_archive_are_aliases_of_their_target(tmp_path):
    path = archive(tmp_path / "blacklists.tar.gz", (
        ("blacklists/porn", "adult"), ("blacklists/sex", "porn"),
        ("blacklists/dangling", "nowhere"),
        ("blacklists/adult/urls", "domains")))  # a file, not a folder
    assert category_aliases([str(path)]) == {"porn": "adult", "sex": "adult"}


def test_a_changed_archive_is_read_again(tmp_path):
    path = archive(tmp_path / "bl.tgz", (("blacklists/porn", "adult"),))
    assert category_aliases([str(path)]) == {"porn": "adult"}
    archive(path, (("blacklists/porn", "adult"), ("blacklists/xxx", "adult")))
    assert category_aliases([str(path)]) == {"porn": "adult", "xxx": "adult"}


def test_plain_files_and_missing_sources_have_no_aliases(tmp_path):
    (tmp_path / "bannedsitelist").write_text("x.example\n")
    assert category_aliases([str(tmp_path / "bannedsitelist"), str(tmp_path / "nope")]) == {}


def test_a_typo_gets_the_closest_category_as_a_hint():
    assert explain("gamblig", KNOWN) == "unknown category 'gamblig' (did you mean 'gambling'?)"
    assert explain("Adult", KNOWN) == "unknown category 'Adult' (did you mean 'adult'?)"


def test_a_name_like_nothing_lists_what_the_lists_define():
    assert explain("zzz", KNOWN) == ("unknown category 'zzz': no loaded list defines it "
                                     "(the lists define 5: adult, gambling, games, malware, "
                                     "porn)")


def test_phrase_categories_are_refused_with_the_reason():
    assert explain("phrases", KNOWN).startswith(
        "'phrases' is a phrase list category, not a URL list category: a page is blocked "
        "by its phrase score against naughtiness_limit")
    assert "'Banned words' is a phrase list category" in explain("Banned words", KNOWN)


def test_every_bad_name_of_every_group_is_reported_and_aliases_pass():
    groups = [GroupConfig(name="pupils", block=["*", "porn", "gamblig"], allow=["game"]),
              GroupConfig(name="staff", block=["adult", "malware"])]
    assert category_problems(groups, KNOWN) == [
        "[[groups]] \"pupils\" block: unknown category 'gamblig' (did you mean 'gambling'?)",
        "[[groups]] \"pupils\" allow: unknown category 'game' (did you mean 'games'?)",
    ]


def test_an_alias_whose_target_no_list_defines_is_unknown():
    known = KnownCategories(frozenset({"adult"}), {"jeux": "games"})
    assert not known.defines("jeux") and known.defines("*") and known.defines("adult")


def test_names_in_schedule_rules_are_checked_too():
    group = GroupConfig(name="pupils", block=["adult"],
                        schedule=[{"hours": "12:00-13:00", "unblock": ["games"]},
                                  {"days": ["sat"], "block": ["gamblig"]}])
    assert category_problems([group], KNOWN) == [
        "[[groups]] \"pupils\" schedule #2 block: unknown category 'gamblig' "
        "(did you mean 'gambling'?)"]
