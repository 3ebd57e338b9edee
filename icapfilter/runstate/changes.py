"""Which changed configuration keys a reload can apply, and which need a restart.

A reload rebuilds the lists, phrase lists, groups and block page, reopens the
logs with the new ``[log]`` settings and restarts the statistics writer with
the new ``[stats]`` ones. What the running processes are made of cannot
change under them: the listening socket, the worker count and every other
``[server]`` key, the metrics port, and the Redis the reload channel listens on.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ..config import Config

#: section -> keys a reload cannot apply (None: every key of the section)
NEEDS_RESTART: dict[str, tuple[str, ...] | None] = {
    "server": None,
    "stats": ("prometheus", "dir"),  # the metric files stay where the server started them
    "store": ("redis",),
}


def changed_keys(old: Any, new: Any) -> list[str]:
    return [f.name for f in fields(old) if getattr(old, f.name) != getattr(new, f.name)]


def restart_keys(running: Config, new: Config) -> list[str]:
    """``[section] key`` of each change that takes effect only after a restart."""
    found = []
    for section, keys in NEEDS_RESTART.items():
        for key in changed_keys(getattr(running, section), getattr(new, section)):
            if keys is None or key in keys:
                found.append(f"[{section}] {key}")
    return found
