"""Checks of a configuration against the machine, before the server starts."""

from __future__ import annotations

import resource

import pytest

from icapfilter.commands import preflight
from icapfilter.commands.preflight import FD_RESERVE, REFUSED, CannotStart, problems
from icapfilter.config import ConfigError, parse_config


def limits(monkeypatch, soft: int, hard: int) -> list[tuple[int, int]]:
    raised: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (soft, hard))
    monkeypatch.setattr(resource, "setrlimit", lambda _which, value: raised.append(value))
    return raised


def test_more_connections_than_descriptors_is_a_problem_naming_the_key(monkeypatch):
    limits(monkeypatch, 1024, 4096)
    config = parse_config("[server]\nmax_connections = 5000\n", "f.toml")
    (problem,) = problems(config)
    assert str(problem) == (f"[server] max_connections: 5000 connections need about "
                            f"{5000 + 16 + FD_RESERVE} file descriptors; the limit is 4096 "
                            f"(ulimit -n)")


def test_at_start_the_soft_descriptor_limit_is_raised_when_the_hard_one_allows(monkeypatch):
    raised = limits(monkeypatch, 1024, 1 << 20)
    config = parse_config("[server]\nmax_connections = 5000\n", "f.toml")
    assert problems(config) == []
    assert raised == []
    assert problems(config, starting=True) == []
    assert raised == [(5000 + 16 + FD_RESERVE, 1 << 20)]


def test_before_start_a_value_problem_is_a_config_error_and_a_refusal_cannot_start(
        monkeypatch, tmp_path):
    config = parse_config(f'[log]\nerror = "{tmp_path}/no/e.log"\n', "f.toml")
    with pytest.raises(ConfigError, match=r"^f.toml: \[log\] error: cannot write"):
        preflight.check_before_start(config)
    monkeypatch.setattr(preflight, "problems", lambda _config, starting: [
        preflight.Problem("[stats] prometheus", "cannot listen", REFUSED)])
    with pytest.raises(CannotStart, match=r"^f.toml: \[stats\] prometheus: cannot listen$"):
        preflight.check_before_start(config)


def test_the_log_file_is_created_at_start_only(tmp_path):
    config = parse_config(f'[log]\naccess = "{tmp_path}/a.log"\n', "f.toml")
    assert problems(config) == []
    assert not (tmp_path / "a.log").exists()
    assert problems(config, starting=True) == []
    assert (tmp_path / "a.log").exists()


def test_access_log_on_stdout_needs_no_file():
    assert problems(parse_config('[log]\naccess = "-"\n')) == []


def test_an_unsafe_stats_folder_is_refused_with_a_redis_store_too(tmp_path):
    shared = tmp_path / "stats"
    shared.mkdir()
    shared.chmod(0o777)
    config = parse_config(f'[store]\nredis = "redis://127.0.0.1:1/0"\n'
                          f'[stats]\ndir = "{shared}"\n', "f.toml")
    (problem,) = problems(config)
    assert problem.where == "[stats] dir" and "writable by group or others" in problem.message
