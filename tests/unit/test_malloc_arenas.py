"""The server caps glibc's malloc arenas, unless the admin chose a number."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from icapfilter.server import memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def test_an_admins_malloc_arena_max_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert memory.limit_malloc_arenas() is False


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_the_cap_is_set_with_glibc():
    # in a child: the cap must be set before threads, and stays for the process
    code = ("import os; os.environ.pop('MALLOC_ARENA_MAX', None); "
            "from icapfilter.server.memory import limit_malloc_arenas as f; print(f())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "True", done.stderr
