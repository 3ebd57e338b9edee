"""The interface every Content-Encoding decoder of the chain implements.

A stage is pull-based so that the chain can be driven by one flat loop
(no recursion, whatever the depth) and so that no stage ever makes more
output than one bounded piece before the caller has taken it.
"""

from __future__ import annotations

#: Most decoded bytes a stage returns from one `pull` (zstd blocks may be 128 KiB).
PIECE = 64 * 1024
#: Most compressed bytes handed to a decompressor in one call: its leftover
#: input is copied on every call, so this keeps that copying linear.
IN_SLICE = 16 * 1024


class Stage:
    """One decoding step of the chain; the base class is `identity`."""

    name = "identity"

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes
        self.ended = False
        #: Work this stage may do: bytes it outputs plus `charge`s for steps
        #: that output nothing (a gzip member, a zstd block); the chain sets it.
        self.budget = 1 << 62
        self.spent = 0
        #: The budget ran out inside the stage: it stopped for good.
        self.capped = False
        self._buf = b""
        self._pos = 0

    def push(self, data: bytes) -> None:
        """More encoded input, in stream order."""
        if self._pos >= len(self._buf):
            self._buf, self._pos = data, 0
        else:
            self._buf, self._pos = self._buf[self._pos :] + data, 0

    def end(self) -> None:
        """No more input will come: `pull` drains what is left, then notes a
        stream that stopped early."""
        self.ended = True

    def pull(self) -> bytes:
        """The next decoded piece (at most 128 KiB), or b"" when the input
        given so far yields nothing more."""
        return self._take(PIECE)

    # -- helpers for subclasses --------------------------------------------

    def charge(self, cost: int) -> bool:
        """Counts a step that outputs nothing; False (and the stage capped)
        once the budget is spent."""
        self.spent += cost
        if self.spent > self.budget:
            self.capped = True
            self.notes.append(f"{self.name}: work budget spent; the rest is not decoded")
            return False
        return True

    def _pending(self) -> int:
        return len(self._buf) - self._pos

    def _take(self, n: int) -> bytes:
        piece = self._buf[self._pos : self._pos + n]
        self._pos += len(piece)
        return piece

    def _peek(self, n: int) -> bytes:
        return self._buf[self._pos : self._pos + n]
