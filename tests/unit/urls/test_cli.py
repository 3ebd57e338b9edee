from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from icapfilter.commands.check_cmd import check
from icapfilter.commands.lists_cmd import lists

LISTS = {
    "BL/porn/domains": "bad.example\n",
    "BL/porn/urls": "mixed.example/bad\n",
    "dg/exceptionsitelist": "good.bad.example\n",
}


@pytest.fixture
def root(write_tree):
    return write_tree(LISTS)


def test_lists_load_without_redis_builds_the_list_image(root) -> None:
    result = CliRunner().invoke(lists, ["load", str(root / "BL")])
    assert result.exit_code == 0, result.output
    assert ": built (generation" in result.output and "porn: 2" in result.output
    assert list((root / "BL" / ".icapfilter-cache").glob("lists-*.img"))
    again = CliRunner().invoke(lists, ["load", str(root / "BL")])
    assert "up to date, not rebuilt" in again.output


def test_lists_load_puts_the_image_in_the_cache_dir_given(root, tmp_path) -> None:
    result = CliRunner().invoke(lists, ["load", str(root / "BL"), "--cache-dir",
                                        str(tmp_path / "state")])
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "state").glob("lists-*.img"))


def test_lists_load_failure_exit_1(root) -> None:
    result = CliRunner().invoke(lists, ["load", str(root / "nope")])
    assert result.exit_code == 1
    assert "no such file" in result.stderr


def test_lists_load_strict_refuses_bad_lines(write_tree) -> None:
    root = write_tree({"BL/x/domains": "ok.example\nbad entry\n"})
    result = CliRunner().invoke(lists, ["load", "--strict", str(root / "BL")])
    assert result.exit_code == 1
    assert "domains:2:" in result.stderr and "strict" in result.stderr


def test_lists_usage_error_exit_2() -> None:
    assert CliRunner().invoke(lists, ["load"]).exit_code == 2


@pytest.mark.parametrize(
    ("url", "verdict", "category", "entry", "exception"),
    [
        ("http://www.bad.example/x", "block", "porn", "bad.example", False),
        ("http://good.bad.example/", "allow", "exceptionsitelist", "good.bad.example", True),
        ("http://mixed.example/bad?x", "block", "porn", "mixed.example/bad", False),
        ("http://mixed.example/badge", "allow", None, None, False),
    ],
)
def test_check_json(root, url, verdict, category, entry, exception) -> None:
    args = [url, "--lists", str(root / "BL"), "--lists", str(root / "dg"), "--json"]
    result = CliRunner().invoke(check, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["verdict"], data["category"], data["entry"], data["exception"]) == (
        verdict,
        category,
        entry,
        exception,
    )
    assert data["group"] == "default"


def test_check_text_and_errors(root) -> None:
    runner = CliRunner()
    result = runner.invoke(check, ["http://bad.example/", "--lists", str(root / "BL")])
    assert result.exit_code == 0 and "verdict:  block" in result.stdout
    assert runner.invoke(check, ["http://x/"]).exit_code == 2
    assert "reason:   would be blocked: listed in porn" in result.stdout
    assert runner.invoke(check, ["--lists", str(root / "BL")]).exit_code == 2  # no URL
    bad = runner.invoke(check, ["http://exa mple/", "--lists", str(root / "BL")])
    assert bad.exit_code == 0, bad.output
    assert "verdict:  block" in bad.stdout
    assert "would be blocked: unparseable URL: the URL contains a space at character 11" \
        in bad.stdout


def test_check_several_urls_and_standard_input_one_json_object_a_line(root) -> None:
    stdin = "http://mixed.example/bad?x\n\n  http://1.203.0.113.7/  \nhttp://good.bad.example/\n"
    result = CliRunner().invoke(
        check, ["http://www.bad.example/", "-", "--lists", str(root / "BL"), "--lists",
                str(root / "dg"), "--json"], input=stdin)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(d["url"], d["verdict"], d["reason"], d["category"], d["entry"]) for d in lines] == [
        ("http://www.bad.example/", "block", "listed in porn", "porn", "bad.example"),
        ("http://mixed.example/bad?x", "block", "listed in porn", "porn", "mixed.example/bad"),
        ("http://1.203.0.113.7/", "block",
         "unparseable (invalid IPv4 address '1.203.0.113.7': more than 4 parts)",
         "unparseable-url", None),
        ("http://good.bad.example/", "allow", "exception list exceptionsitelist",
         "exceptionsitelist", "good.bad.example"),
    ]


def test_check_text_for_several_urls_names_each(root) -> None:
    result = CliRunner().invoke(check, ["http://bad.example/", "http://clean.example/",
                                        "--lists", str(root / "BL")])
    assert result.exit_code == 0
    assert "url:      http://bad.example/\nverdict:  block\n" in result.stdout
    assert "url:      http://clean.example/\nverdict:  allow\n" in result.stdout
    assert "reason:   would be allowed: not listed" in result.stdout


def test_check_standard_input_that_is_not_utf8(root) -> None:
    result = CliRunner().invoke(check, ["-", "--lists", str(root / "BL"), "--json"],
                                input=b"http://\xff.example/\n")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "block" and data["url"] == "http://\udcff.example/"


def test_check_reads_standard_input_once(root) -> None:
    result = CliRunner().invoke(check, ["-", "-", "--lists", str(root / "BL")], input="")
    assert result.exit_code == 2


def test_check_with_config_follows_on_error(root, tmp_path) -> None:
    conf = tmp_path / "icapfilter.conf"
    conf.write_text(f'[lists]\npaths = ["{root / "BL"}"]\n[store]\non_error = "allow"\n'
                    '[[groups]]\nname = "default"\nblock = ["*"]\n')
    result = CliRunner().invoke(check, ["http://1.2.3.4.5/", "http://bad.example/",
                                        "--config", str(conf), "--json"])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert (first["verdict"], first["category"]) == ("allow", None)
    assert first["reason"].startswith("unparseable (")
    assert second["verdict"] == "block"


def test_check_store_down_exits_1_but_answers_every_url(root) -> None:
    result = CliRunner().invoke(check, ["http://a.example/", "http://b.example/", "--redis",
                                        "redis://127.0.0.1:1/0", "--json"])
    assert result.exit_code == 1
    errors = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["url"] for e in errors] == ["http://a.example/", "http://b.example/"]
    assert all("error" in e for e in errors)


@pytest.mark.integration
@pytest.mark.redis
def test_load_status_check_with_redis(root, redis_srv) -> None:
    redis_srv.client().flushall()
    runner = CliRunner()
    loaded = runner.invoke(lists, ["load", "--redis", redis_srv.url, str(root / "BL")])
    assert loaded.exit_code == 0, loaded.output
    status = runner.invoke(lists, ["status", "--redis", redis_srv.url])
    assert status.exit_code == 0 and "porn: 2" in status.stdout
    checked = runner.invoke(check, ["bad.example:443", "--redis", redis_srv.url, "--json"])
    assert json.loads(checked.stdout)["verdict"] == "block"


def test_lists_load_names_an_image_it_cannot_write(root, tmp_path, monkeypatch) -> None:
    import icapfilter.urls.image_store as image_store

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image_store, "build_image", full)
    result = CliRunner().invoke(lists, ["load", str(root / "BL")])
    assert result.exit_code == 1
    assert "cannot write the list image" in result.stderr and "No space left" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
