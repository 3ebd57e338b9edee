"""Giving freed heap memory back to the system (glibc only).

A worker allocates and frees body buffers of every size, from many threads;
glibc keeps what is freed in its heaps for reuse, and fragmentation makes
those heaps creep upwards, so a worker trims them now and then. The trim
holds each arena's lock while it runs, hence an interval rather than a trim
per message (measurements: docs/operations.md, "Soak and memory"). Elsewhere
(FreeBSD's jemalloc, musl) it does not exist and :func:`release_free_memory`
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable

log = logging.getLogger("icapfilter.server")

TRIM_INTERVAL = 30.0
"""Seconds between two trims in a worker."""


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


#: glibc's mallopt parameter number of M_ARENA_MAX (malloc.h).
_M_ARENA_MAX = -8
#: Arenas a process may use. glibc's default, 8 per core, gives each of a
#: worker's 16 threads its own heap to fragment: with phrase scanning at full
#: load a worker grew by 21 MB instead of 5 (docs/benchmarks.md, issue 21),
#: for no measurable gain in requests per second.
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (inherited by forked workers) unless the admin set
    MALLOC_ARENA_MAX; False where there is no such setting (FreeBSD, musl)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Return the allocator's free pages to the system; False when not supported."""
    if _TRIM is None:
        return False
    try:
        _TRIM(0)
    except OSError as exc:  # pragma: no cover - never seen
        log.debug("malloc_trim failed: %s", exc)
        return False
    return True
