"""c-icap's own client (Debian package c-icap) against our server."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.icapserver import TestPolicy, running_server
from tests.squidserver import page

pytestmark = pytest.mark.integration

CLIENT = shutil.which("c-icap-client")


@pytest.fixture(scope="module")
def port():
    if CLIENT is None:
        pytest.skip("c-icap-client is not installed (the test command installs c-icap)")
    with running_server(TestPolicy(generation="cicap")) as srv:
        yield srv.server_address[1]


def run(port: int, *args: str, output=None) -> str:
    cmd = [CLIENT, "-i", "127.0.0.1", "-p", str(port), "-v", *args]
    if output is not None:
        cmd += ["-o", str(output)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


def test_options(port):
    out = run(port, "-s", "respmod")
    assert "ICAP/1.0 200 OK" in out
    assert "Preview: 4096" in out
    assert 'ISTag: "if-cicap"' in out


def test_reqmod_clean_is_204(port):
    assert "ICAP/1.0 204" in run(port, "-s", "reqmod", "-req", "http://clean.example/a")


def test_reqmod_blocked_gets_block_page(port, tmp_path):
    out = run(port, "-s", "reqmod", "-req", "http://blocked.example/a",
              output=tmp_path / "o.html")
    assert "ICAP/1.0 200" in out and "403 Forbidden" in out
    assert "test-category" in (tmp_path / "o.html").read_text()


@pytest.mark.parametrize("flags", [[], ["-nopreview"], ["-no204"], ["-nopreview", "-no204"],
                                   ["-w", "100"]])
def test_respmod_clean_file(port, tmp_path, flags):
    body = page(150_000)
    src = tmp_path / "in.html"
    src.write_bytes(body)
    out = run(port, "-s", "respmod", "-f", str(src), "-rhx", "Content-Type: text/html", *flags,
              output=tmp_path / "out.html")
    if "ICAP/1.0 204" in out:
        assert "-no204" not in flags or "-nopreview" not in flags
    else:
        assert "ICAP/1.0 200" in out
        assert (tmp_path / "out.html").read_bytes() == body


@pytest.mark.parametrize("flags", [[], ["-nopreview", "-no204"]])
def test_respmod_banned_word_is_blocked(port, tmp_path, flags):
    src = tmp_path / "in.html"
    src.write_bytes(page(20_000, word=b"badword"))
    out = run(port, "-s", "respmod", "-f", str(src), "-rhx", "Content-Type: text/html", *flags,
              output=tmp_path / "out.html")
    assert "403 Forbidden" in out
    assert "banned phrase" in (tmp_path / "out.html").read_text()
