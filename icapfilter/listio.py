"""Reading a list file without trusting what the path points at.

A list, or a `.Include<...>` in one, may name a device, a FIFO or a huge
file by mistake (`.Include</dev/zero>` would otherwise read forever). Only a
regular file up to a size limit is read; anything else is an OSError whose
message says why, which the loaders report as file:line like any other.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Far above any real list (UT1's largest `domains` file is ~60 MB).
MAX_LIST_BYTES = 1 << 30


def read_list_file(path: Path, limit: int = MAX_LIST_BYTES) -> bytes:
    # O_NONBLOCK: opening a FIFO with no writer must not block the loader
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError("not a regular file")
        if info.st_size > limit:
            raise OSError(f"larger than {limit} bytes")
        data = f.read(limit + 1)
    if len(data) > limit:  # grew while we read it
        raise OSError(f"larger than {limit} bytes")
    return data
