"""The squid-helper launcher's decisions that need no zygote."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from icapfilter.helperlaunch import _died, runtime_dir


def test_a_zygote_that_wrote_its_pid_and_is_gone_counts_as_dead(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    pid_file = tmp_path / "z.pid"
    pid_file.write_text(f"{gone.pid}\n")
    assert _died(str(pid_file), time.time())


def test_a_live_zygote_or_an_old_pid_file_is_waited_for(tmp_path):
    pid_file = tmp_path / "z.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    assert not _died(str(pid_file), time.time())
    gone = subprocess.Popen(["true"])
    gone.wait()
    pid_file.write_text(f"{gone.pid}\n")
    os.utime(pid_file, (0, 0))  # from a zygote before this launcher started one
    assert not _died(str(pid_file), time.time())
    assert not _died(str(tmp_path / "none.pid"), time.time())


def test_the_runtime_folder_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    folder = runtime_dir()
    assert os.stat(folder).st_mode & 0o777 == 0o700
    os.chmod(folder, 0o755)
    try:
        runtime_dir()
    except OSError as exc:
        assert "private" in str(exc)
    else:
        raise AssertionError("a folder others can enter was accepted")


def test_a_socket_path_too_long_for_unix_sockets_serves_in_process_without_a_zygote(
        tmp_path, monkeypatch):
    import icapfilter.helperlaunch as helperlaunch

    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.setenv("TMPDIR", str(deep))

    def no_zygote(*args: object) -> None:
        raise AssertionError("a zygote was started for a socket it cannot bind")

    monkeypatch.setattr(helperlaunch, "_start_zygote", no_zygote)
    assert helperlaunch.run(["--config", str(tmp_path / "c.toml")]) is None


def test_a_zygote_that_cannot_listen_says_so_like_a_failed_build(tmp_path, monkeypatch):
    import gc

    import icapfilter.app
    from icapfilter.helperzygote import main

    monkeypatch.setattr(icapfilter.app, "setup_logging", lambda config: None)
    config = tmp_path / "c.toml"
    config.write_text("")
    sock = tmp_path / ("s" * 120)  # longer than any sun_path
    try:
        assert main(["--socket", str(sock), "--config", str(config)]) == 1
    finally:
        gc.unfreeze()
    assert "too long" in Path(f"{sock}.failed").read_text()
    assert not Path(f"{sock}.pid").exists()
