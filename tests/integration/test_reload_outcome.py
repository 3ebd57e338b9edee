"""What ``serve`` says at start and what ``reload`` and ``lists status`` report
about a running server with the in-process store (default pid file, no keys)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.icapserver import IcapClient, reqmod
from tests.icapserver import serve_process as start
from tests.icapserver import stop_process as stop
from tests.polling import PipeWatch, wait_until

pytestmark = pytest.mark.integration


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icapfilter", *args], capture_output=True,
                          text=True, timeout=60)


def lists_folder(tmp_path: Path, *domains: str) -> Path:
    folder = tmp_path / "bl"
    (folder / "adult").mkdir(parents=True, exist_ok=True)
    (folder / "adult" / "domains").write_text("".join(f"{d}\n" for d in domains))
    (folder / "gambling").mkdir(exist_ok=True)
    (folder / "gambling" / "domains").write_text("casino.test\n")
    return folder


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_serve_without_configuration_says_it_blocks_nothing():
    proc, _port = start()
    stderr = PipeWatch(proc.stderr)
    try:
        wait_until(lambda: f"(pid {proc.pid})".encode() in stderr.available())
    finally:
        assert stop(proc) == 0
    text = stderr.rest().decode()
    assert "NOTHING IS BLOCKED" in text and "every request passes" in text
    assert "configuration: none (built-in defaults" in text


def test_serve_summary_names_version_lists_and_counts(tmp_path):
    folder = lists_folder(tmp_path, "bad.test", "worse.test")
    conf = config(tmp_path, f'[lists]\npaths = ["{folder}"]\n')
    proc, _port = start("--workers", "2", config=str(conf))
    stderr = PipeWatch(proc.stderr)
    try:
        wait_until(lambda: stderr.available().count(b"listening on 127") >= 3)
    finally:
        assert stop(proc) == 0
    text = stderr.rest().decode()
    assert "icapfilter 0." in text and f"configuration: {conf}" in text
    assert "list store: in-process" in text
    assert "3 entries (0 exceptions) in 2 categories" in text
    assert "groups: default (blocks every category)" in text
    assert "2 workers x 16 threads" in text
    assert "NOTHING IS BLOCKED" not in text


def test_reload_prints_the_new_generation_of_every_worker(tmp_path):
    folder = lists_folder(tmp_path, "bad.test")
    conf = config(tmp_path, f'[lists]\npaths = ["{folder}"]\n')
    proc, port = start("--workers", "2", config=str(conf))
    try:
        wait_until(lambda: "2 worker(s)" in cli("lists", "status", "--config", str(conf)).stdout)
        lists_folder(tmp_path, "bad.test", "new.test")
        done = cli("reload", "--config", str(conf))
        assert done.returncode == 0, done.stderr
        assert "reloaded: 2 workers" in done.stdout
        assert "URL lists: generation " in done.stdout
        assert "3 entries (0 exceptions) in 2 categories" in done.stdout
        with IcapClient(port) as c:
            assert c.transact(reqmod("http://new.test/")).status == 200
        status = cli("lists", "status", "--config", str(conf))
        assert status.returncode == 0, status.stderr
        assert "entries:    3" in status.stdout and "  adult: 2" in status.stdout
    finally:
        assert stop(proc) == 0


def test_a_reload_with_a_broken_list_fails_and_keeps_the_old_lists(tmp_path):
    folder = lists_folder(tmp_path, "bad.test")
    conf = config(tmp_path, f'[lists]\npaths = ["{folder}"]\n')
    proc, port = start(config=str(conf))
    try:
        wait_until(lambda: cli("lists", "status", "--config", str(conf)).returncode == 0)
        conf.write_text(f'[lists]\npaths = ["{folder}", "{tmp_path / "missing.tar.gz"}"]\n')
        done = cli("reload", "--config", str(conf))
        assert done.returncode == 1
        assert "reload FAILED" in done.stderr and "missing.tar.gz" in done.stderr
        assert "old lists still in force" in done.stderr
        assert "2 entries (0 exceptions) in 2 categories" in done.stderr
        with IcapClient(port) as c:
            assert c.transact(reqmod("http://bad.test/")).status == 200
    finally:
        assert stop(proc) == 0


def test_reload_applies_log_settings_and_names_keys_that_need_a_restart(tmp_path):
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    conf = config(tmp_path, f'[log]\naccess = "{first}"\n')
    proc, port = start(config=str(conf))
    try:
        conf.write_text(f'[server]\nthreads = 4\n[log]\naccess = "{second}"\n')
        done = cli("reload", "--config", str(conf))
        assert done.returncode == 0, done.stderr
        assert "in force only after a restart: [server] threads" in done.stdout
        with IcapClient(port) as c:
            c.transact(reqmod("http://after.test/"))
        wait_until(lambda: second.exists() and "after.test" in second.read_text())
        assert "after.test" not in first.read_text()
    finally:
        assert stop(proc) == 0


def test_lists_status_without_a_running_server_says_so(tmp_path):
    conf = config(tmp_path, '[server]\nlisten = "127.0.0.1:1"\n')
    done = cli("lists", "status", "--config", str(conf))
    assert done.returncode == 1
    assert "no running server found" in done.stderr and "icapfilter-1.pid" in done.stderr


def test_a_worker_restarted_after_a_reload_serves_the_reloaded_lists(tmp_path):
    folder = lists_folder(tmp_path, "bad.test")
    conf = config(tmp_path, f'[lists]\npaths = ["{folder}"]\n')
    proc, port = start("--workers", "2", config=str(conf))
    try:
        wait_until(lambda: "2 worker(s)" in cli("lists", "status", "--config", str(conf)).stdout)
        lists_folder(tmp_path, "bad.test", "new.test")
        assert cli("reload", "--config", str(conf)).returncode == 0
        victim = int(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                    text=True).stdout.split()[0])
        os.kill(victim, signal.SIGKILL)

        def replaced() -> str | None:
            out = cli("lists", "status", "--config", str(conf)).stdout
            return out if "2 worker(s)" in out and f"pid {victim} " not in out else None

        out = wait_until(replaced, timeout=30)
        assert "entries:    3" in out
        assert "different generations" not in out
    finally:
        assert stop(proc) == 0


def test_started_on_a_terminal_with_an_error_log_the_summary_reaches_the_terminal(tmp_path):
    import pty
    import select

    from tests.redisserver import free_port

    error_log = tmp_path / "error.log"
    conf = config(tmp_path, f'[server]\nlisten = "127.0.0.1:{free_port()}"\n'
                            f'[log]\nerror = "{error_log}"\n')
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "icapfilter", "serve", "--config", str(conf)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    seen = b""
    try:
        def shown() -> bool:
            nonlocal seen
            while select.select([controller], [], [], 0)[0]:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:
                    return False
                if not chunk:
                    break
                seen += chunk
            return b"(more in " in seen

        wait_until(shown, timeout=30)
        # the worker's own line: its SIGTERM handler (drain) is installed
        wait_until(lambda: f"(pid {proc.pid})" in error_log.read_text(), timeout=30)
    finally:
        assert stop(proc) == 0
        os.close(controller)
    assert b"NOTHING IS BLOCKED" in seen and b"listening on 127.0.0.1:" in seen
    assert "NOTHING IS BLOCKED" in error_log.read_text()
