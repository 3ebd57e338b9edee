"""squid-helper children forked from one loaded process: each Squid child is a
launcher that hands its pipes over and becomes `cat`; the answering processes
share the policy and the mapped list image, and see edited lists."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from icapfilter.helperlaunch import parse
from tests.integration.urls.test_list_image import mapped_inodes, workers, write_lists
from tests.polling import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short folder: a Unix socket path has at most 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="hz-", dir="/tmp"))
    yield path
    for pid_file in path.glob(f"icapfilter-{os.getuid()}/*.pid"):
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    shutil.rmtree(path, ignore_errors=True)


def helper(config: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "icapfilter", "squid-helper", "--config",
                             str(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def ask(proc: subprocess.Popen, line: str) -> bytes:
    assert proc.stdin and proc.stdout
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()
    return proc.stdout.readline()


def test_helpers_are_children_of_one_zygote_sharing_the_image(short_tmp):
    write_lists(short_tmp / "BL")
    config = short_tmp / "c.toml"
    config.write_text(f'[lists]\npaths = ["{short_tmp / "BL"}"]\n'
                      '[[groups]]\nname = "default"\nblock = ["adult"]\n')
    env = {**os.environ, "TMPDIR": str(short_tmp), "ICAPFILTER_HELPER_IDLE": "2"}
    procs = [helper(config, env) for _ in range(3)]
    try:
        for n, proc in enumerate(procs):
            assert ask(proc, f"{n} 10.0.0.1 - http://bad.test/").startswith(f"{n} OK".encode())
            assert ask(proc, f"{n} 10.0.0.1 - http://clean.test/") == f"{n} ERR\n".encode()
        (pid_file,) = short_tmp.glob(f"icapfilter-{os.getuid()}/*.pid")
        zygote = int(pid_file.read_text())
        children = workers(zygote)
        assert len(children) == 3
        assert [Path(f"/proc/{p.pid}/comm").read_text().strip() for p in procs] == ["cat"] * 3
        (image,) = (short_tmp / "BL" / ".icapfilter-cache").glob("*.img")
        assert all(mapped_inodes(pid) == {os.stat(image).st_ino} for pid in children)

        (short_tmp / "BL/adult/domains").write_text("other.test\n")
        late = helper(config, env)
        procs.append(late)
        assert ask(late, "9 10.0.0.1 - http://bad.test/") == b"9 ERR\n"
        assert ask(late, "9 10.0.0.1 - http://other.test/").startswith(b"9 OK")
    finally:
        for proc in procs:
            assert proc.stdin
            proc.stdin.close()
    assert [p.wait(timeout=20) for p in procs] == [0] * 4
    wait_until(lambda: not Path(f"/proc/{zygote}").exists() or
               Path(f"/proc/{zygote}/stat").read_text().split()[2] == "Z",
               timeout=20, message="the idle zygote did not exit")


def test_the_launcher_leaves_unusual_command_lines_to_the_full_command():
    assert parse(["--config", "x.toml"]) == {"config": os.path.abspath("x.toml"),
                                             "concurrency": None}
    assert parse(["--config=x.toml", "--no-concurrency", "--redis", "redis://h/0"]) == {
        "config": os.path.abspath("x.toml"), "concurrency": False, "redis": "redis://h/0"}
    assert parse([]) is None  # no configuration: nothing to share
    assert parse(["--config", "x.toml", "--no-shared"]) is None
    assert parse(["--help"]) is None
    assert parse(["--config"]) is None


def test_a_configuration_broken_after_start_keeps_the_policy_and_each_child_says_so(
        short_tmp):
    write_lists(short_tmp / "BL")
    config = short_tmp / "c.toml"
    config.write_text(f'[lists]\npaths = ["{short_tmp / "BL"}"]\n'
                      '[[groups]]\nname = "default"\nblock = ["adult"]\n')
    env = {**os.environ, "TMPDIR": str(short_tmp), "ICAPFILTER_HELPER_IDLE": "2"}
    first = helper(config, env)
    assert ask(first, "1 10.0.0.1 - http://bad.test/").startswith(b"1 OK")
    config.write_text("[lists\n")
    late = helper(config, env)
    assert ask(late, "2 10.0.0.1 - http://bad.test/").startswith(b"2 OK")
    for proc in (first, late):
        assert proc.stdin
        proc.stdin.close()
    assert [p.wait(timeout=20) for p in (first, late)] == [0, 0]
    assert late.stderr and b"cannot be loaded" in late.stderr.read()
