"""Category names are checked by ``serve`` and by a reload of a running
server, as by ``config check``: a typo never silently blocks nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.icapserver import IcapClient, reqmod
from tests.icapserver import serve_process as start
from tests.icapserver import stop_process as stop
from tests.polling import wait_until
from tests.squidserver import free_port

pytestmark = pytest.mark.integration


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "icapfilter", *args], capture_output=True,
                          text=True, timeout=60)


def configured(tmp_path: Path, block: str) -> Path:
    bl = tmp_path / "bl"
    for category, domain in (("adult", "porn.test"), ("gambling", "casino.test")):
        (bl / category).mkdir(parents=True, exist_ok=True)
        (bl / category / "domains").write_text(domain + "\n")
    conf = tmp_path / "c.toml"
    conf.write_text(f'[lists]\npaths = ["{bl}"]\n[[groups]]\nblock = {block}\n')
    return conf


def test_serve_refuses_to_start_with_an_unknown_category(tmp_path):
    conf = configured(tmp_path, '["adult", "gamblig"]')
    done = cli("serve", "--config", str(conf), "--listen", f"127.0.0.1:{free_port()}")
    assert done.returncode == 2
    assert "unknown category 'gamblig' (did you mean 'gambling'?)" in done.stderr


def test_a_reload_with_an_unknown_category_keeps_the_running_groups(tmp_path):
    conf = configured(tmp_path, '["adult", "gambling"]')
    proc, port = start(config=str(conf))
    try:
        wait_until(lambda: cli("lists", "status", "--config", str(conf)).returncode == 0)
        configured(tmp_path, '["adult", "gamblig"]')
        done = cli("reload", "--config", str(conf))
        assert done.returncode == 1
        assert "did you mean 'gambling'?" in done.stderr
        with IcapClient(port) as client:
            assert client.transact(reqmod("http://casino.test/")).http_status == 403
    finally:
        assert stop(proc) == 0
