"""The squid-helper launcher's decisions that need no zygote."""

from __future__ import annotations

import os
import subprocess
import time

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
