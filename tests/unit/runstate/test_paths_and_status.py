"""Where the pid and status files go, and how reload reads the workers' outcomes."""

from __future__ import annotations

import os
import subprocess

import pytest

from icapfilter.commands.reload_cmd import report, wait_for_outcomes
from icapfilter.config import parse_config
from icapfilter.runstate import paths
from icapfilter.runstate import status as run_status
from icapfilter.runstate.changes import restart_keys


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Only folders under tmp_path are candidates (no /run on the test machine)."""
    monkeypatch.setattr(paths, "candidate_dirs", lambda: [tmp_path / "run" / "icapfilter",
                                                         tmp_path / "private"])
    return tmp_path


def test_systemd_runtime_directory_comes_first_and_the_temp_folder_last(monkeypatch, tmp_path):
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "sd"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    found = paths.candidate_dirs()
    assert found[0] == tmp_path / "sd"
    assert tmp_path / "xdg" / "icapfilter" in found
    assert found[-1].name == f"icapfilter-{os.geteuid()}"


def test_the_pid_file_is_named_by_the_port_in_the_first_writable_folder(isolated):
    (isolated / "run").mkdir()
    config = parse_config('[server]\nlisten = "127.0.0.1:3128"\n')
    path = paths.server_pid_file(config)
    assert path == isolated / "run" / "icapfilter" / "icapfilter-3128.pid"
    path.write_text("1\n")
    assert paths.find_pid_file(config) == path


def test_without_a_writable_run_folder_the_private_fallback_is_used(isolated):
    config = parse_config("")
    path = paths.server_pid_file(config)  # tmp/run does not exist: not creatable
    assert path.parent == isolated / "private"
    assert (path.parent.stat().st_mode & 0o777) == 0o700


def test_a_folder_others_can_write_is_not_trusted(isolated):
    folder = isolated / "run" / "icapfilter"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    (folder / "icapfilter-1344.pid").write_text(f"{os.getpid()}\n")
    assert paths.find_pid_file(parse_config("")) is None
    assert paths.server_pid_file(parse_config("")).parent == isolated / "private"


def test_the_configured_pid_file_wins(isolated):
    config = parse_config(f'[server]\npid_file = "{isolated / "x.pid"}"\n')
    assert paths.server_pid_file(config) == isolated / "x.pid"
    assert paths.status_dir(isolated / "x.pid") == isolated / "x.status"


def test_a_server_started_on_another_port_is_found_by_its_configuration_file(isolated):
    conf = isolated / "c.toml"
    conf.write_text("")
    folder = isolated / "private"
    folder.mkdir(mode=0o700)
    pid_file = folder / "icapfilter-5555.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    run_status.prepare(paths.status_dir(pid_file))
    run_status.write(paths.status_dir(pid_file),
                     run_status.WorkerStatus(pid=os.getpid(), started=0, config=str(conf)))
    config = parse_config("", str(conf))
    assert paths.find_pid_file(config) == pid_file


def test_status_files_of_dead_workers_are_skipped(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    for pid in (os.getpid(), dead.pid):
        run_status.write(tmp_path, run_status.WorkerStatus(pid=pid, started=0, config="c"))
    (tmp_path / "worker-7.json").write_text("{not json")
    assert list(run_status.read_all(tmp_path)) == [os.getpid()]
    run_status.remove(tmp_path, os.getpid())
    assert run_status.read_all(tmp_path) == {}


def test_preparing_the_folder_removes_the_files_of_workers_no_longer_running(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    for pid in (os.getpid(), dead.pid):
        run_status.write(tmp_path, run_status.WorkerStatus(pid=pid, started=0, config="c"))
    (tmp_path / "worker-¹.json").write_text("{}")  # not a pid: left alone, no error
    run_status.prepare(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"worker-{os.getpid()}.json",
                                                           "worker-¹.json"]


LOADED = {"store": "in-process", "groups": ["default (blocks every category)"],
          "lists": {"generation": "g2", "entries": 3, "exceptions": 0, "errors": 0,
                    "counts": {"adult": 2, "gambling": 1}, "sources": ["bl"],
                    "loaded_at": 0, "duration": 0}}


def test_reload_reports_the_new_generation_once_every_worker_answered(tmp_path, capsys):
    before = {os.getpid(): run_status.WorkerStatus(pid=os.getpid(), started=0, config="c")}
    run_status.write(tmp_path, run_status.WorkerStatus(
        pid=os.getpid(), started=0, config="c", reloads=1, loaded=LOADED,
        restart=["[server] threads"]))
    done, pending, gone = wait_for_outcomes(tmp_path, before, timeout=5)
    assert pending == gone == [] and report(done, pending, 5, gone)
    out = capsys.readouterr().out
    assert "reloaded: 1 worker" in out
    assert "generation g2: 3 entries (0 exceptions) in 2 categories" in out
    assert "after a restart: [server] threads" in out


def test_a_failed_reload_says_the_old_lists_are_still_in_force(tmp_path, capsys):
    before = {os.getpid(): run_status.WorkerStatus(pid=os.getpid(), started=0, config="c")}
    run_status.write(tmp_path, run_status.WorkerStatus(
        pid=os.getpid(), started=0, config="c", reloads=1, ok=False,
        error="[lists] paths: x.tar.gz: no such file", loaded=LOADED))
    done, pending, gone = wait_for_outcomes(tmp_path, before, timeout=5)
    assert not report(done, pending, 5)
    err = capsys.readouterr().err
    assert "reload FAILED" in err and "x.tar.gz" in err
    assert "old lists still in force" in err and "generation g2" in err


def test_a_worker_that_never_answers_is_named_after_the_timeout(tmp_path, capsys):
    before = {os.getpid(): run_status.WorkerStatus(pid=os.getpid(), started=0, config="c")}
    done, pending, gone = wait_for_outcomes(tmp_path, before, timeout=0.2)
    assert pending == [os.getpid()] and not report(done, pending, 0.2, gone)
    assert f"no outcome from worker {os.getpid()} within 0.2 s" in capsys.readouterr().err


def test_a_worker_that_dies_during_the_reload_is_named_and_fails_the_command(tmp_path,
                                                                             capsys):
    dead = subprocess.Popen(["true"])
    dead.wait()
    me = os.getpid()
    before = {pid: run_status.WorkerStatus(pid=pid, started=0, config="c")
              for pid in (me, dead.pid)}
    run_status.write(tmp_path, run_status.WorkerStatus(pid=me, started=0, config="c",
                                                       reloads=1, loaded=LOADED))
    done, pending, gone = wait_for_outcomes(tmp_path, before, timeout=5)
    assert (list(done), pending, gone) == ([me], [], [dead.pid])
    assert not report(done, pending, 5, gone)
    assert f"worker {dead.pid} exited before it reported an outcome" in capsys.readouterr().err


def test_a_reload_whose_every_worker_died_says_so(tmp_path, capsys):
    dead = subprocess.Popen(["true"])
    dead.wait()
    before = {dead.pid: run_status.WorkerStatus(pid=dead.pid, started=0, config="c")}
    done, pending, gone = wait_for_outcomes(tmp_path, before, timeout=5)
    assert not report(done, pending, 5, gone)
    assert f"worker {dead.pid} exited" in capsys.readouterr().err


def test_server_keys_need_a_restart_log_and_blockpage_do_not():
    old = parse_config("")
    new = parse_config('[server]\nthreads = 4\n[log]\nlevel = "debug"\n'
                       '[stats]\nprometheus = "127.0.0.1:9100"\ninterval = 2\n')
    assert restart_keys(old, new) == ["[server] threads", "[stats] prometheus"]


def test_a_run_folder_root_handed_to_the_service_user_is_trusted(tmp_path, monkeypatch):
    """systemd makes /run/icapfilter for the service's user; root's reload must find it."""
    run = tmp_path / "run"
    folder = run / "icapfilter"
    folder.mkdir(parents=True)
    (folder / "icapfilter-1344.pid").write_text("1\n")
    if os.geteuid() != 0:
        pytest.skip("needs root to give the folder to another user")
    os.chown(folder, 4242, 4242)  # the service's user: neither us nor root
    monkeypatch.setattr(paths, "candidate_dirs", lambda: [folder])
    monkeypatch.setattr(paths, "_root_owned", lambda p: p == run)
    assert paths.find_pid_file(parse_config("")) == folder / "icapfilter-1344.pid"
    monkeypatch.setattr(paths, "_root_owned", lambda p: False)  # e.g. in /tmp
    assert paths.find_pid_file(parse_config("")) is None


def test_a_second_server_with_the_same_pid_file_refuses_to_start(tmp_path):
    import signal

    from icapfilter.app import build
    from icapfilter.server.runner import serve

    pid_file, folder = tmp_path / "s.pid", tmp_path / "s.status"
    running = subprocess.Popen(["sleep", "30"])  # the server already serving
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGUSR1)}
    try:
        pid_file.write_text(f"{running.pid}\n")
        run_status.prepare(folder)
        run_status.write(folder, run_status.WorkerStatus(pid=running.pid, started=0, config="c"))
        config = parse_config(f'[server]\nlisten = "127.0.0.1:1"\npid_file = "{pid_file}"\n')
        with pytest.raises(OSError, match=f"another server \\(pid {running.pid}\\) runs with"):
            serve(lambda: config, build)
        assert pid_file.read_text() == f"{running.pid}\n"
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        running.kill()
        running.wait()


def test_a_stale_pid_file_whose_pid_another_program_took_is_no_server(tmp_path):
    unrelated = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "s.pid").write_text(f"{unrelated.pid}\n")
        assert run_status.other_server(tmp_path / "s.pid", tmp_path / "s.status") is None
    finally:
        unrelated.kill()
        unrelated.wait()


@pytest.mark.parametrize("content", ["0\n", "-1\n", "1\n"])
def test_reload_signals_no_process_group_for_a_pid_file_holding_zero_or_minus_one(tmp_path,
                                                                                  content):
    from click.testing import CliRunner

    from icapfilter.cli import main

    pid_file = tmp_path / "s.pid"
    pid_file.write_text(content)
    result = CliRunner().invoke(main, ["reload", "--pid-file", str(pid_file)])
    assert result.exit_code == 1 and "not the pid of a server" in result.output
