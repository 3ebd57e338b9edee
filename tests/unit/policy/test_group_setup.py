"""The groups as app.build_policy builds them: category names checked at
config check, serve and reload; the user file; each group's phrase lists."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from icapfilter.app import build_policy
from icapfilter.cli import main
from icapfilter.config import ConfigError, parse_config
from icapfilter.groupsetup import GroupSetupError, group_map, known_categories
from icapfilter.icap.messages import Headers
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.urls.model import Category, GenerationInfo

HTML = ResponseInfo(200, Headers.of([("Content-Type", "text/html")]))


def req(url: str, ip: str | None = None, user: str | None = None,
        group: str | None = None) -> RequestInfo:
    return RequestInfo(Client(ip, user, group), "GET", url, Headers())


@pytest.fixture
def lists(tmp_path: Path) -> Path:
    """UT1-like: adult (porn.test), gambling (casino.test), porn -> adult."""
    bl = tmp_path / "bl"
    for category, domain in (("adult", "porn.test"), ("gambling", "casino.test")):
        (bl / category).mkdir(parents=True)
        (bl / category / "domains").write_text(domain + "\n")
    (bl / "porn").symlink_to("adult")
    return bl


def phrase_dir(root: Path, name: str, banned: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "bannedphraselist").write_text(f'#listcategory: "Banned words"\n<{banned}>\n')
    return folder


def config_text(bl: Path, groups: str, extra: str = "") -> str:
    return f'[lists]\npaths = ["{bl}"]\n{extra}\n{groups}'


def test_config_check_of_a_group_blocking_gamblig_fails_with_a_hint(lists, tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(config_text(lists, '[[groups]]\nname = "default"\n'
                                       'block = ["adult", "gamblig"]\n'))
    result = CliRunner().invoke(main, ["config", "check", str(conf)])
    assert result.exit_code == 2
    assert (f"{conf}: [[groups]] \"default\" block: unknown category 'gamblig' "
            "(did you mean 'gambling'?)") in result.output


def test_serve_and_reload_refuse_it_too(lists):
    # both build the policy through app.build_policy, which raises a ConfigError
    with pytest.raises(ConfigError, match="did you mean 'gambling'"):
        build_policy(parse_config(config_text(lists, '[[groups]]\nallow = ["gamblig"]\n')))


def test_an_ut1_alias_blocks_the_category_it_links_to(lists):
    policy = build_policy(parse_config(config_text(lists, '[[groups]]\nblock = ["porn"]\n')))
    verdict = policy.decide_request(req("http://porn.test/"))
    assert verdict.blocked and verdict.category == "adult"
    assert not policy.decide_request(req("http://casino.test/")).blocked


def test_a_phrase_category_in_block_is_refused_with_the_reason(lists, tmp_path):
    phrases = phrase_dir(tmp_path, "ph", "badword")
    text = config_text(lists, '[[groups]]\nblock = ["adult", "Banned words"]\n',
                       f'[phrases]\ndir = "{phrases}"\n')
    with pytest.raises(ConfigError, match="'Banned words' is a phrase list category"):
        build_policy(parse_config(text))


def test_without_lists_block_names_are_not_checked_but_warned(tmp_path, caplog):
    phrases = phrase_dir(tmp_path, "ph", "badword")
    build_policy(parse_config(f'[phrases]\ndir = "{phrases}"\n[[groups]]\nblock = ["x"]\n'))
    assert any("no URL lists are loaded" in r.getMessage() for r in caplog.records)


def test_lists_loaded_elsewhere_make_unknown_names_warnings(caplog):
    # a Redis store loaded on another machine: its sources are not here, so an
    # alias cannot be told from a typo
    info = GenerationInfo("g", 0.0, sources=["/nonexistent/blacklists.tar.gz"],
                          categories={1: Category("adult", False)})
    known = known_categories(SimpleNamespace(info=lambda: info), [])
    assert known is not None and not known.complete
    config = parse_config('[[groups]]\nblock = ["porn"]\n')
    group_map(config, known)
    assert any("unknown category 'porn'" in r.getMessage() for r in caplog.records)


def test_a_store_that_does_not_answer_skips_the_check(caplog):
    def down() -> None:
        raise OSError("connection refused")

    assert known_categories(SimpleNamespace(info=down), []) is None
    assert "the list store did not answer (connection refused)" in caplog.text


# -- the user-to-group file ------------------------------------------------------

GROUPS = ('[[groups]]\nname = "pupils"\nblock = ["*"]\n'
          '[[groups]]\nname = "staff"\nblock = ["adult"]\n')


def test_the_user_file_places_users_in_groups(lists, tmp_path):
    users = tmp_path / "filtergroupslist"
    users.write_text("alice=filter2\n")
    policy = build_policy(parse_config(config_text(
        lists, GROUPS, f'[users]\ngroups_file = "{users}"\n')))
    assert not policy.decide_request(req("http://casino.test/", user="Alice")).blocked
    verdict = policy.decide_request(req("http://casino.test/", user="bob"))
    assert verdict.blocked and verdict.group == "pupils"


def test_a_bad_user_file_stops_the_build_naming_file_and_line(lists, tmp_path):
    users = tmp_path / "filtergroupslist"
    users.write_text("alice=filter2\nbob=teachers\n")
    with pytest.raises(GroupSetupError, match=rf"\[users\] groups_file:\n{users}:2: no group "
                                              "'teachers'"):
        build_policy(parse_config(config_text(lists, GROUPS,
                                              f'[users]\ngroups_file = "{users}"\n')))


def test_a_missing_user_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="groups_file: no such file"):
        parse_config(f'[users]\ngroups_file = "{tmp_path / "nope"}"\n')


def test_the_header_from_squid_names_the_group_unless_switched_off(lists):
    for trusted, blocked in (("true", False), ("false", True)):
        policy = build_policy(parse_config(config_text(
            lists, GROUPS, f"[users]\ngroup_header = {trusted}\n")))
        assert policy.decide_request(req("http://casino.test/", group="staff")).blocked \
            is blocked


# -- each group's phrase lists -----------------------------------------------------

def scan(policy, user: str, body: bytes) -> bool:  # type: ignore[no-untyped-def]
    started = policy.begin_response(req("http://page.test/", user=user), HTML)
    if not hasattr(started, "feed"):
        return started.blocked
    started.feed(body)
    return started.finish().blocked


def test_a_group_with_its_own_phrase_lists_scans_with_them(lists, tmp_path):
    shared = phrase_dir(tmp_path, "shared", "badword")
    own = phrase_dir(tmp_path, "own", "staffword")
    policy = build_policy(parse_config(config_text(
        lists, GROUPS.replace('name = "staff"\n', f'name = "staff"\nclients = ["user:t"]\n'
                                                  f'phrase_dir = "{own}"\n'),
        f'[phrases]\ndir = "{shared}"\n')))
    assert scan(policy, "p", b"<p>a badword</p>") and not scan(policy, "p", b"<p>staffword</p>")
    assert scan(policy, "t", b"<p>a staffword</p>") and not scan(policy, "t", b"<p>badword</p>")


def test_groups_naming_the_same_files_share_one_phrase_set(lists, tmp_path):
    shared = phrase_dir(tmp_path, "shared", "badword")
    own = phrase_dir(tmp_path, "own", "staffword")
    banned = own / "bannedphraselist"
    text = config_text(lists, (
        f'[[groups]]\nname = "a"\nphrase_dir = "{own}"\n'
        f'[[groups]]\nname = "b"\nphrase_dir = "{own}/"\n'
        f'[[groups]]\nname = "c"\nphrase_dir = "{shared}"\n'
        f'[[groups]]\nname = "d"\nphrase_banned = ["{banned}"]\n'
        '[[groups]]\nname = "default"\n'), f'[phrases]\ndir = "{shared}"\n')
    scanner = build_policy(parse_config(text)).scanner
    assert scanner.by_group["a"] is scanner.by_group["b"]
    assert scanner.by_group["c"] is scanner.phrases  # the same files as [phrases]
    assert scanner.by_group["d"] is not scanner.by_group["a"]  # other files: its own set
    assert scanner.phrases_for("default") is scanner.phrases


def test_without_phrases_only_groups_with_their_own_lists_scan(lists, tmp_path):
    own = phrase_dir(tmp_path, "own", "badword")
    policy = build_policy(parse_config(config_text(lists, (
        f'[[groups]]\nname = "pupils"\nclients = ["user:p"]\nphrase_dir = "{own}"\n'
        '[[groups]]\nname = "default"\n'))))
    assert scan(policy, "p", b"<p>badword</p>")
    assert policy.begin_response(req("http://page.test/", user="x"), HTML).reason == \
        "not scanned"


def test_the_phrase_tag_follows_a_group_s_own_lists(lists, tmp_path):
    own = phrase_dir(tmp_path, "own", "badword")
    text = config_text(lists, f'[[groups]]\nphrase_dir = "{own}"\n')
    before = build_policy(parse_config(text)).generation
    (own / "bannedphraselist").write_text("<badword>\n<another>\n")
    assert build_policy(parse_config(text)).generation != before


def test_a_group_s_missing_phrase_list_names_the_group_and_key(lists, tmp_path):
    text = config_text(lists, f'[[groups]]\nname = "staff"\n'
                              f'phrase_weighted = ["{tmp_path / "nope"}"]\n')
    with pytest.raises(GroupSetupError, match=r'\[\[groups\]\] "staff" phrase_weighted: no '
                                              "such phrase list"):
        build_policy(parse_config(text))


def test_a_group_takes_a_phrase_dir_or_files_not_both(tmp_path):
    with pytest.raises(ConfigError, match="use either phrase_dir or phrase_banned"):
        parse_config(f'[[groups]]\nphrase_dir = "{tmp_path}"\nphrase_banned = ["x"]\n')


def test_icapfilter_scan_with_a_group_uses_the_group_s_own_lists(lists, tmp_path):
    shared = phrase_dir(tmp_path, "shared", "badword")
    own = phrase_dir(tmp_path, "own", "staffword")
    conf = tmp_path / "c.toml"
    conf.write_text(config_text(lists, f'[[groups]]\nname = "default"\n'
                                       f'[[groups]]\nname = "staff"\nphrase_dir = "{own}"\n',
                                f'[phrases]\ndir = "{shared}"\n'))
    page = tmp_path / "page.html"
    page.write_text("<p>staffword</p>")
    verdicts = {}
    for group in ("staff", "default"):
        result = CliRunner().invoke(main, ["scan", str(page), "--config", str(conf),
                                           "--group", group, "--json"])
        assert result.exit_code == 0, result.output
        verdicts[group] = json.loads(result.stdout)["verdict"]
    assert verdicts == {"staff": "block", "default": "allow"}


def test_a_category_defined_only_by_regular_expressions_is_known(tmp_path):
    # e2guardian's bannedregexpurllist with a #listcategory and no site entries
    (tmp_path / "bannedregexpurllist").write_text('#listcategory: "proxies"\nproxy\\.php\n')
    (tmp_path / "bannedsitelist").write_text("casino.test\n")
    text = (f'[lists]\npaths = ["{tmp_path / "bannedregexpurllist"}", '
            f'"{tmp_path / "bannedsitelist"}"]\n[[groups]]\nblock = ["proxies"]\n')
    policy = build_policy(parse_config(text))
    assert policy.decide_request(req("http://any.test/proxy.php")).blocked


def test_check_group_judges_as_if_squid_named_the_group(lists, tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(config_text(lists, GROUPS))
    runner = CliRunner()
    for extra, verdict in (([], "block"), (["--group", "staff"], "allow")):
        result = runner.invoke(main, ["check", "http://casino.test/", "--config", str(conf),
                                      "--json", *extra])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["verdict"] == verdict
    assert runner.invoke(main, ["check", "http://x.test/", "--lists", str(lists),
                                "--group", "staff"]).exit_code == 2


def test_the_start_up_summary_names_a_group_s_own_phrase_lists(lists, tmp_path):
    from icapfilter.startup_summary import describe, phrases_line

    own = phrase_dir(tmp_path, "own", "badword")
    config = parse_config(config_text(lists, f'[[groups]]\nname = "staff"\n'
                                             f'phrase_dir = "{own}"\n'))
    loaded = describe(config, build_policy(config))
    assert loaded.groups == [f"staff (blocks every category; own phrase lists {own})"]
    assert phrases_line(loaded) == "phrase lists: none configured ([phrases] dir)"


def test_an_implicit_default_group_is_named_in_a_warning(lists, caplog):
    build_policy(parse_config(config_text(lists, GROUPS)))
    assert 'no group is named "default": clients no rule places get "pupils"' in caplog.text
