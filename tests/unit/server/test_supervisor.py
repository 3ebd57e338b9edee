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
