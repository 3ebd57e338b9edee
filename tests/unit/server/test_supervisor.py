"""The supervisor of ``--workers N`` stops even when a worker is still starting."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

SLOW_WORKER = """
import time
from icapfilter.server.runner import _supervise

def still_starting(restarted: bool = False) -> int:
    time.sleep(30)  # loading lists: Worker.run has not installed its handlers yet
    return 0

_supervise(1, still_starting)
"""


def test_sigterm_stops_a_worker_that_is_still_starting():
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WORKER])
    try:
        time.sleep(1.0)  # the worker is forked and sleeping
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            subprocess.run(["pkill", "-KILL", "-P", str(proc.pid)], check=False)
            proc.kill()
            proc.wait()


CRASHING_WORKER = """
import os, signal, sys
from pathlib import Path
from icapfilter.runstate import status as run_status
from icapfilter.server.runner import _supervise

folder = Path(sys.argv[1])

def worker(restarted: bool = False) -> int:
    if restarted:  # the replacement ends the test
        os.kill(os.getppid(), signal.SIGTERM)
        return 0
    run_status.write(folder, run_status.WorkerStatus(pid=os.getpid(), started=0, config="c"))
    return 3  # crashes without removing its status file

_supervise(1, worker, on_exit=lambda pid: run_status.remove(folder, pid))
"""


def test_a_crashed_workers_status_file_is_removed_by_the_supervisor(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_WORKER, str(tmp_path)])
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert list(tmp_path.glob("worker-*.json")) == []
