"""The list image in running processes: workers share one mapped file, a
reload maps the new one, `icapfilter check` answers as the dict store did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.icapserver import IcapClient, reqmod
from tests.icapserver import serve_process as start
from tests.icapserver import stop_process as stop
from tests.polling import PipeWatch, wait_until

pytestmark = pytest.mark.integration

LISTED = ["bad.test", "porn.example.org", "casino.test"]
URLS = ["http://bad.test/", "http://www.porn.example.org/x", "http://casino.test/a?b=1",
        "http://good.test/adult/page", "http://good.test/other", "http://clean.test/",
        "http://safe.bad.test/"]


def write_lists(root: Path) -> None:
    for rel, text in {"adult/domains": "bad.test\nporn.example.org\n",
                      "adult/urls": "good.test/adult/page\n",
                      "gambling/domains": "casino.test\n",
                      "exceptions/exceptionsitelist": "safe.bad.test\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def config(tmp_path: Path, image: bool = True) -> Path:
    path = tmp_path / f"image-{image}.toml"
    path.write_text(f'[lists]\npaths = ["{tmp_path / "BL"}"]\nimage = {str(image).lower()}\n'
                    f'cache_dir = "{tmp_path / "cache"}"\n'
                    '[[groups]]\nname = "default"\nblock = ["adult", "gambling"]\n')
    return path


def mapped_inodes(pid: int) -> set[int]:
    """Inodes of the list images ``pid`` maps."""
    found = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].endswith(".img"):
            found.add(int(fields[4]))
    return found


def workers(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def listening_workers(proc: subprocess.Popen) -> list[int]:
    """The two workers' pids once both handle SIGHUP (one still starting ignores it)."""
    stderr = PipeWatch(proc.stderr)
    children = wait_until(lambda: len(workers(proc.pid)) == 2 and workers(proc.pid))
    wait_until(lambda: all(f"(pid {pid})".encode() in stderr.available() for pid in children),
               message="the workers did not start listening")
    return children


def test_two_workers_map_the_same_image_and_a_reload_maps_the_new_one(tmp_path):
    write_lists(tmp_path / "BL")
    conf = config(tmp_path)
    proc, port = start("--workers", "2", config=str(conf))
    try:
        children = listening_workers(proc)
        (image,) = (tmp_path / "cache").glob("lists-*.img")
        inode = os.stat(image).st_ino
        assert [mapped_inodes(pid) for pid in children] == [{inode}, {inode}]
        with IcapClient(port) as client:
            assert client.transact(reqmod("http://bad.test/")).status == 200  # block page
        (tmp_path / "BL/adult/domains").write_text("other.test\n")
        os.kill(proc.pid, signal.SIGHUP)
        new = wait_until(lambda: os.stat(image).st_ino != inode and os.stat(image).st_ino)
        wait_until(lambda: all(mapped_inodes(pid) == {new} for pid in children),
                   timeout=20, message="workers did not switch to the new image")
        with IcapClient(port) as client:
            assert client.transact(reqmod("http://bad.test/")).status == 204
    finally:
        assert stop(proc) == 0


def check(conf: Path) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "icapfilter", "check", "--json",
                           "--config", str(conf), *URLS],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_check_answers_the_same_verdicts_from_the_image_as_from_the_dict(tmp_path):
    write_lists(tmp_path / "BL")
    with_image, with_dict = check(config(tmp_path)), check(config(tmp_path, image=False))
    assert list((tmp_path / "cache").glob("lists-*.img"))
    drop = ("generation",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in with_image] == \
        [{k: v for k, v in r.items() if k not in drop} for r in with_dict]
    assert [r["verdict"] for r in with_image].count("block") == 4


def test_a_reload_that_cannot_keep_an_image_serves_the_new_lists_from_the_dict(tmp_path):
    write_lists(tmp_path / "BL")
    conf = config(tmp_path)
    proc, port = start("--workers", "2", config=str(conf))
    try:
        listening_workers(proc)
        (tmp_path / "BL/adult/domains").write_text("bad.test\nnew.test\n")
        (tmp_path / "file").write_text("")
        conf.write_text(conf.read_text().replace(str(tmp_path / "cache"),
                                                 str(tmp_path / "file" / "cache")))
        done = subprocess.run([sys.executable, "-m", "icapfilter", "reload", "--config",
                               str(conf)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        with IcapClient(port) as client:
            assert client.transact(reqmod("http://new.test/")).status == 200
            assert client.transact(reqmod("http://bad.test/")).status == 200
    finally:
        assert stop(proc) == 0
