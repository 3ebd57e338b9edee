"""Waiting for a condition instead of sleeping for a guessed time.

A fixed sleep is either too short on a loaded machine (a flaky test) or too
long everywhere else (a slow suite); polling a condition with a deadline is
neither. A sleep stays only where time passing is the behaviour under test
(a TTL running out, a client trickling bytes).
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from typing import IO, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline (a test failure, not an error)."""


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
               message: str | Callable[[], str] = "") -> T:
    """The first truthy value of ``predicate()``, polled every ``interval`` seconds;
    :class:`WaitTimeout` once ``timeout`` seconds passed without one (the
    predicate is asked one last time at the deadline, so a slow predicate
    still gets its chance). ``message`` may be a function, to describe the
    state at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    value = predicate()
    if value:
        return value
    if callable(message):
        message = message()
    raise WaitTimeout(message or f"condition not met within {timeout}s: {predicate!r}")


class PipeWatch:
    """A child process's pipe read as the output comes, without a thread and
    without blocking, so a test can wait for a log line and still have all
    the output at the end (:meth:`rest` after the process exited)."""

    def __init__(self, pipe: IO[bytes] | None) -> None:
        if pipe is None:
            raise ValueError("the process was started without a pipe for this stream")
        self.pipe = pipe
        self.seen = b""

    def available(self) -> bytes:
        """Everything read so far, after reading what the pipe holds now."""
        fd = self.pipe.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.seen += chunk
        return self.seen

    def rest(self) -> bytes:
        """Everything the process wrote (call once it has exited: reads to EOF)."""
        self.seen += self.pipe.read()
        return self.seen
