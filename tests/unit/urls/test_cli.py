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


def test_lists_load_memory_validates_only(root) -> None:
    result = CliRunner().invoke(lists, ["load", str(root / "BL")])
    assert result.exit_code == 0, result.output
    assert "activated" in result.output and "porn: 2" in result.output
    assert "only validated" in result.output


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
    bad = runner.invoke(check, ["http://exa mple/", "--lists", str(root / "BL")])
    assert bad.exit_code == 1 and "error:" in bad.stderr


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
