"""Workers give the allocator's free pages back to the system (glibc)."""

from __future__ import annotations

import platform
import threading
from pathlib import Path

import pytest

from icapfilter.server import memory


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="malloc_trim is glibc's")
def test_release_free_memory_gives_freed_heap_pages_back():
    kept: list[bytes] = []

    def churn(seed: int) -> None:
        # body-sized buffers from several threads, a few kept: fragmented heaps
        for i in range(3000):
            data = bytes(500 + (i * 7919 + seed * 104729) % 90_000)
            if i % 97 == 0:
                kept.append(data)

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept.clear()
    before = rss_kib()
    assert memory.release_free_memory() is True
    assert rss_kib() <= before


def test_without_malloc_trim_it_does_nothing(monkeypatch):
    monkeypatch.setattr(memory, "_TRIM", None)
    assert memory.release_free_memory() is False
