"""Every command as a user runs it: --help, exit codes and the error paths."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from icapfilter.cli import main
from tests.redisserver import free_port

COMMANDS = [["serve"], ["check"], ["scan"], ["lists"], ["lists", "load"], ["lists", "reload"],
            ["lists", "status"], ["reload"], ["stats"], ["config"], ["config", "check"]]
DOWN = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    code, out = run(*command, "--help")
    assert code == 0 and "Usage:" in out


def test_config_check_accepts_the_sample_and_names_the_bad_key(tmp_path):
    assert run("config", "check", "icapfilter.conf.sample")[0] == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nthreds = 3\n")
    code, out = run("config", "check", str(bad))
    assert code == 2 and "unknown key 'threds'" in out and str(bad) in out


def test_config_check_reports_a_missing_list_file(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(f'[lists]\npaths = ["{tmp_path / "missing"}"]\n')
    code, out = run("config", "check", str(conf))
    assert code == 2 and "missing" in out


def test_lists_load_of_a_missing_file_fails_with_the_reason(tmp_path):
    code, out = run("lists", "load", str(tmp_path / "nope"))
    assert code == 1 and "nope" in out


def test_lists_load_needs_something_to_load():
    assert run("lists", "load")[0] == 2


def test_lists_status_with_redis_down_fails_cleanly():
    code, out = run("lists", "status", "--redis", DOWN)
    assert code == 1 and "Traceback" not in out


def test_check_with_redis_down_fails_cleanly():
    code, out = run("check", "http://x.test/", "--redis", DOWN, "--json")
    assert code == 1 and '"error"' in out and "Traceback" not in out


def test_check_against_a_list_file_needs_no_configuration(tmp_path):
    (tmp_path / "bannedsitelist").write_text("bad.test\n")
    code, out = run("check", "http://www.bad.test/x", "--lists",
                    str(tmp_path / "bannedsitelist"), "--json")
    assert code == 0 and '"verdict": "block"' in out and '"entry": "bad.test"' in out


def test_reload_without_a_pid_file_is_a_usage_error():
    assert run("reload")[0] == 2


def test_reload_with_a_stale_pid_file_fails(tmp_path):
    pid = tmp_path / "p.pid"
    pid.write_text("999999\n")
    code, out = run("reload", "--pid-file", str(pid))
    assert code == 1 and "cannot signal" in out


def test_reload_with_redis_down_fails(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(f'[store]\nredis = "{DOWN}"\n')
    code, out = run("reload", "--config", str(conf))
    assert code == 1 and "Traceback" not in out


def test_scan_of_a_missing_file_is_a_usage_error(tmp_path):
    code, out = run("scan", str(tmp_path / "missing.html"))
    assert code == 2 and "cannot read" in out


def test_serve_with_a_bad_configuration_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[store]\non_error = \"maybe\"\n")
    code, out = run("serve", "--config", str(bad))
    assert code == 2 and "on_error" in out


@pytest.mark.parametrize("command", [["serve"], ["squid-helper"]], ids=" ".join)
def test_long_running_commands_report_a_bad_configuration_in_one_line(command, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nthreds = 3\n")
    code, out = run(*command, "--config", str(bad))
    assert code == 2
    assert "configuration error" in out and "threds" in out
    assert "Traceback" not in out
