"""SIGUSR1 and SIGHUP that reach a server still loading do not end it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from tests.polling import wait_until

SLOW_START = """
import sys, time
from icapfilter.app import build
from icapfilter.config import parse_config
from icapfilter.server.runner import serve

pid_file, building, port = sys.argv[1:]
conf = parse_config(f'[server]\\nlisten = "127.0.0.1:{port}"\\npid_file = "{pid_file}"\\n')

def slow_build(config):
    open(building, "w").close()
    time.sleep(1.0)  # loading lists
    return build(config)

sys.exit(serve(lambda: conf, slow_build))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_log_rotation_and_reload_signals_during_start_up_are_survived(tmp_path):
    pid_file, building = tmp_path / "s.pid", tmp_path / "building"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_START, str(pid_file), str(building),
                             str(_free_port())], stderr=subprocess.DEVNULL)
    try:
        wait_until(building.exists)
        proc.send_signal(signal.SIGUSR1)  # logrotate's postrotate
        proc.send_signal(signal.SIGHUP)
        status = tmp_path / "s.status"
        wait_until(lambda: proc.poll() is not None or any(status.glob("worker-*.json")))
        assert proc.poll() is None, f"the server ended with {proc.returncode}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
