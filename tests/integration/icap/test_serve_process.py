"""``icapfilter serve`` as a real process: start-up, SIGTERM drain, SIGHUP, workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.icapserver import (
    IcapClient,
    chunked,
    http_response_head,
    reqmod,
    respmod_head,
)
from tests.icapserver import serve_process as start
from tests.icapserver import stop_process as stop
from tests.polling import PipeWatch, wait_until

pytestmark = pytest.mark.integration


def workers(proc: subprocess.Popen) -> list[str]:
    return subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                          text=True).stdout.split()


def test_serve_without_lists_blocks_nothing():
    proc, port = start()
    try:
        with IcapClient(port) as c:
            assert c.transact(reqmod("http://anything.example/")).status == 204
    finally:
        assert stop(proc) == 0


def test_sigterm_lets_the_transaction_in_flight_finish(tmp_path):
    (tmp_path / "banned").write_text("<forbidden words>\n")
    conf = tmp_path / "icapfilter.toml"
    conf.write_text(f'[phrases]\nbanned = ["{tmp_path / "banned"}"]\n')  # pages get scanned
    proc, port = start(config=str(conf))
    stderr = PipeWatch(proc.stderr)
    try:
        with IcapClient(port) as c:
            c.send(respmod_head("http://c/", http_response_head(), preview=5, allow204=False)
                   + b"5\r\nhello\r\n0\r\n\r\n")
            assert b" 100 " in c.read_head()  # the server is inside the transaction
            proc.send_signal(signal.SIGTERM)
            wait_until(lambda: b"draining" in stderr.available())
            c.send(b"6\r\n world\r\n0\r\n\r\n")
            answer = c.read_response()
            assert answer.status == 200 and answer.body == b"hello world"
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sighup_reloads_without_dropping_connections(tmp_path):
    conf = tmp_path / "icapfilter.toml"
    conf.write_text("[log]\nlevel = \"info\"\n")
    proc, port = start(config=str(conf))
    stderr = PipeWatch(proc.stderr)
    try:
        with IcapClient(port) as c:
            assert c.transact(reqmod()).status == 204
            proc.send_signal(signal.SIGHUP)
            wait_until(lambda: b"reloaded" in stderr.available())
            assert c.transact(reqmod()).status == 204
    finally:
        assert stop(proc) == 0


def test_a_bad_reload_keeps_the_running_configuration(tmp_path):
    conf = tmp_path / "icapfilter.toml"
    conf.write_text("[log]\nlevel = \"info\"\n")
    proc, port = start(config=str(conf))
    stderr = PipeWatch(proc.stderr)
    try:
        conf.write_text("[server]\nthreds = 3\n")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: b"reload failed" in stderr.available())
        with IcapClient(port) as c:
            assert c.transact(reqmod()).status == 204
    finally:
        assert stop(proc) == 0


def test_bad_configuration_stops_start_up_with_file_and_key(tmp_path):
    conf = tmp_path / "bad.toml"
    conf.write_text("[server]\nworkers = \"two\"\n")
    done = subprocess.run([sys.executable, "-m", "icapfilter", "serve", "--config", str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert str(conf) in done.stderr and "workers" in done.stderr


def test_workers_share_the_port_and_a_dead_worker_is_replaced():
    proc, port = start("--workers", "2")
    try:
        children = workers(proc)
        assert len(children) == 2
        os.kill(int(children[0]), signal.SIGKILL)
        wait_until(lambda: children[0] not in workers(proc) and len(workers(proc)) == 2)
        for _ in range(20):
            with IcapClient(port) as c:
                assert c.transact(reqmod()).status == 204
        after = workers(proc)
        assert len(after) == 2 and children[0] not in after
    finally:
        assert stop(proc) == 0


def test_body_is_streamed_through_a_worker_process():
    proc, port = start("--workers", "2")
    try:
        body = os.urandom(300_000)
        with IcapClient(port) as c:
            c.send(respmod_head("http://c/", http_response_head("application/octet-stream"),
                                preview=None, allow204=False) + chunked(body))
            assert c.read_response().body == body
    finally:
        stop(proc)
