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
