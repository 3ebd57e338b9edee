"""Every command as a user runs it: --help, exit codes and the error paths."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from icapfilter.cli import main
from tests.redisserver import free_port

COMMANDS = [["serve"], ["check"], ["scan"], ["lists"], ["lists", "load"], ["lists", "reload"],
            ["lists", "status"], ["reload"], ["stats"], ["config"], ["config", "check"],
            ["install-service"]]
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


def test_reload_without_a_running_server_names_where_it_looked(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(f'[server]\nlisten = "127.0.0.1:{free_port()}"\n')
    code, out = run("reload", "--config", str(conf))
    assert code == 2
    assert "no pid file at" in out and "icapfilter-" in out and "[server] pid_file" in out


def test_reload_with_a_stale_pid_file_says_no_server_runs(tmp_path):
    pid = tmp_path / "p.pid"
    pid.write_text("999999\n")
    code, out = run("reload", "--pid-file", str(pid))
    assert code == 1 and "no server running with pid 999999" in out


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


@pytest.mark.parametrize("command", [["lists", "load", "x"], ["lists", "status"],
                                     ["check", "http://x.test/"]], ids=" ".join)
@pytest.mark.parametrize("url,needle", [("foo://bar", "got 'foo://'"),
                                        ("redis://h:port/0", "Port could not be cast")])
def test_a_bad_redis_url_is_a_usage_error_naming_the_option(command, url, needle):
    code, out = run(*command, "--redis", url)
    assert code == 2
    assert "'--redis'" in out and needle in out
    assert "Traceback" not in out


def _config(tmp_path, text: str) -> str:
    """A configuration file; serve's trial bind of the default port 1344 would
    fail while another server runs, so a free port unless the text names one."""
    if "listen =" not in text:
        listen = f'listen = "127.0.0.1:{free_port()}"\n'
        text = (text.replace("[server]\n", "[server]\n" + listen) if "[server]\n" in text
                else "[server]\n" + listen + text)
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("command", [["config", "check"], ["serve", "--config"]], ids=" ".join)
def test_too_many_threads_is_a_configuration_error_naming_file_and_key(command, tmp_path):
    path = _config(tmp_path, "[server]\nthreads = 100000\n")
    code, out = run(*command, path)
    assert code == 2
    assert f"{path}: [server]: threads must be <= 1024, got 100000" in out
    assert "Traceback" not in out


@pytest.mark.parametrize("text,needle", [
    ('[log]\nerror = "{tmp}/missing/error.log"\n', "[log] error: cannot write"),
    ('[log]\naccess = "{tmp}"\n', "[log] access: {tmp} is a directory"),
    ('[server]\npid_file = "{tmp}/c.toml/x.pid"\n', "[server] pid_file: cannot write"),
    ('[stats]\nprometheus = "192.0.2.1:9100"\n', "[stats] prometheus: 192.0.2.1 is not an address"),
    ('[server]\nlisten = "192.0.2.1:1344"\n', "[server] listen: 192.0.2.1 is not an address"),
    ('[stats]\nprometheus = "nohost.invalid:9100"\n', "[stats] prometheus: cannot resolve"),
])
@pytest.mark.parametrize("command", [["config", "check"], ["serve", "--config"]], ids=" ".join)
def test_what_the_machine_refuses_is_found_before_start(command, text, needle, tmp_path):
    path = _config(tmp_path, text.format(tmp=tmp_path))
    code, out = run(*command, path)
    assert code == 2, out
    assert needle.format(tmp=tmp_path) in out and path in out
    assert "Traceback" not in out


def test_config_check_does_not_try_the_port_a_running_server_holds(tmp_path):
    with socket.socket() as running:
        running.bind(("127.0.0.1", 0))
        running.listen()
        port = running.getsockname()[1]
        path = _config(tmp_path, f'[server]\nlisten = "127.0.0.1:{port}"\n'
                                 f'[stats]\nprometheus = "127.0.0.1:{port}"\n')
        assert run("config", "check", path) == (0, f"{path}: OK\n")


@pytest.mark.parametrize("key", ["server] listen", "stats] prometheus"])
def test_serve_names_the_key_of_a_port_in_use(key, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        free = free_port()
        listen, prometheus = (port, free) if key.startswith("server") else (free, port)
        path = _config(tmp_path, f'[server]\nlisten = "127.0.0.1:{listen}"\n'
                                 f'[stats]\nprometheus = "127.0.0.1:{prometheus}"\n'
                                 f'dir = "{tmp_path / "stats"}"\n')
        done = subprocess.run([sys.executable, "-m", "icapfilter", "serve", "--config", path],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith(f"icapfilter: cannot start: {path}: [{key}: cannot listen on "
                                  f"127.0.0.1:{port}: Address already in use (another process")
    assert done.stderr.endswith(f"change [{key})\n")


def test_serve_refuses_a_configured_stats_folder_others_can_write(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    code, out = run("serve", "--config", _config(tmp_path, f'[stats]\ndir = "{shared}"\n'))
    assert code == 2 and "[stats] dir: unsafe for snapshots" in out and "writable by group" in out


def test_config_check_warns_of_an_unsafe_default_stats_folder_but_passes(tmp_path,
                                                                         monkeypatch):
    from icapfilter import stats

    planted = tmp_path / f"icapfilter-stats-{os.geteuid()}"
    monkeypatch.setattr(stats, "default_dir", lambda: planted)  # wherever /run/icapfilter is
    planted.mkdir()
    planted.chmod(0o777)
    code, out = run("config", "check", _config(tmp_path, "[server]\n"))
    assert code == 0
    assert "warning:" in out and "statistics snapshots will be disabled" in out


def test_lists_load_without_redis_does_not_claim_to_have_activated_anything(tmp_path):
    (tmp_path / "bl" / "adult").mkdir(parents=True)
    (tmp_path / "bl" / "adult" / "domains").write_text("bad.test\n")
    code, out = run("lists", "load", str(tmp_path / "bl"))
    assert code == 0
    assert "activated" not in out and "only validated" not in out
    assert "  adult: 1" in out and "at start and on `icapfilter reload`" in out


def test_stats_without_a_server_names_where_it_looked(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(f'[stats]\ndir = "{tmp_path / "stats"}"\n')
    code, out = run("stats", "--config", str(conf))
    assert code == 1
    assert f"no worker has reported statistics to {tmp_path / 'stats'} ([stats] dir)" in out
