"""A worker's reload: its outcome in the status file, whatever goes wrong."""

from __future__ import annotations

import json
import os

from icapfilter.app import build
from icapfilter.config import parse_config
from icapfilter.server.runner import Worker
from tests.redisserver import free_port


def make_worker(tmp_path, build_again):
    config = parse_config(f'[server]\nlisten = "127.0.0.1:{free_port()}"\n', "c.toml")
    return Worker(build(config), lambda: config, build_again, reuse_port=False,
                  status_folder=tmp_path)


def status(tmp_path):
    return json.loads((tmp_path / f"worker-{os.getpid()}.json").read_text())


def test_an_unexpected_error_in_a_reload_is_reported_and_the_worker_lives_on(tmp_path):
    def broken(config):
        raise KeyError("surprise")

    worker = make_worker(tmp_path, broken)
    try:
        before = worker.holder.current
        assert worker.reload() is False
        assert worker.holder.current is before
        got = status(tmp_path)
        assert got["ok"] is False and got["reloads"] == 1
        assert got["error"] == "internal error: KeyError('surprise')"
    finally:
        worker.server.server_close()


def test_a_good_reload_counts_and_describes_what_is_in_force(tmp_path):
    worker = make_worker(tmp_path, build)
    try:
        assert worker.reload() is True
        got = status(tmp_path)
        assert got["ok"] is True and got["reloads"] == 1 and got["restart"] == []
        assert got["loaded"]["blocks_nothing"].startswith("NOTHING IS BLOCKED")
        assert got["config"].endswith("c.toml")
    finally:
        worker.server.server_close()
