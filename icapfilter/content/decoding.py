"""Undo HTTP Content-Encoding as the body streams in, within a work budget.

A decompression bomb (a few KB that inflate to GBs) must not be able to eat
memory or CPU. Every stage of the chain hands out one bounded piece at a
time, and every stage may produce at most `max_output` bytes: the last
stage's output is what gets scanned, and an inner stage's output is the
input (and so the CPU time) of the next one, which a chain such as
`deflate, gzip, gzip` over empty deflate blocks can make huge while the
scanned text stays empty. The chain is driven by one flat loop, so its
depth costs no stack. Corrupt data never raises: what was decoded so far
stays valid and the problem is recorded in `notes`.

Encodings a browser cannot decode (an unknown token) leave the body
unscanned (`unsupported`): the browser cannot render it either. A chain
longer than `MAX_ENCODINGS`, or one this installation cannot decode although
browsers can, raises :class:`DecodeRefused`: the caller must fail closed.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import brotli_stage, inflate, zstd_stage
from .stage import PIECE, Stage

__all__ = ["MAX_ENCODINGS", "PIECE", "ContentDecoder", "DecodeRefused"]

#: Most stacked encodings accepted. Browsers stack a few at most (a real
#: server sends one); a longer chain only serves to exhaust the filter.
MAX_ENCODINGS = 4


#: Compression Dictionary Transport (RFC 9842): Chromium renders these, but
#: they decode only with a dictionary the browser kept from an earlier response.
SHARED_DICTIONARY = frozenset({"dcb", "dcz"})


class DecodeRefused(ValueError):
    """The body's encoding cannot be scanned, yet a browser could render it."""


def _stages(content_encoding: str | None, notes: list[str]) -> list[Stage] | None:
    """Decoders in the order to apply them, or None if one is unknown."""
    if not content_encoding:
        return []
    names = [n.strip().lower() for n in content_encoding.split(",")]
    names = [n for n in names if n and n not in ("identity", "none")]
    if len(names) > MAX_ENCODINGS:
        raise DecodeRefused(f"{len(names)} stacked Content-Encodings "
                            f"(at most {MAX_ENCODINGS} are decoded)")
    stages: list[Stage] = []
    for name in reversed(names):  # the last encoding applied is undone first
        if name in ("gzip", "x-gzip"):
            stages.append(inflate.InflateStage("gzip", notes))
        elif name == "deflate":
            stages.append(inflate.InflateStage("deflate", notes))
        elif name == "br":
            if not brotli_stage.AVAILABLE:
                raise DecodeRefused(f"Content-Encoding br: {brotli_stage.WHY_UNAVAILABLE}")
            stages.append(brotli_stage.BrotliStage(notes))
        elif name == "zstd":
            if not zstd_stage.AVAILABLE:
                raise DecodeRefused(f"Content-Encoding zstd: {zstd_stage.WHY_UNAVAILABLE}")
            stages.append(zstd_stage.ZstdStage(notes))
        elif name in SHARED_DICTIONARY:
            raise DecodeRefused(f"Content-Encoding {name}: compressed against a shared "
                                "dictionary the filter does not have")
        else:
            notes.append(f"unsupported Content-Encoding {name!r}; body not scanned")
            return None
    return stages


class ContentDecoder:
    """Streams raw body bytes through the Content-Encoding chain.

    `feed` and `finish` are generators of decoded pieces: the caller handles
    one piece at a time, so memory stays at a few pieces whatever the ratio.
    Raises :class:`DecodeRefused` for a chain that must not pass unscanned.
    """

    def __init__(self, content_encoding: str | None, max_output: int) -> None:
        self.notes: list[str] = []
        self._stages = _stages(content_encoding, self.notes)
        self.unsupported = self._stages is None
        self.max_output = max_output
        self.output_bytes = 0
        self.truncated = False
        for stage in self._stages or ():
            stage.budget = max_output

    @property
    def done(self) -> bool:
        """No further input can produce output (cap reached or unsupported)."""
        return self.truncated or self.unsupported

    def _pump(self, start: int) -> Iterator[bytes]:
        """Moves data down the chain from stage `start`, depth first, so that
        at most one piece per stage is in flight."""
        stages = self._stages
        assert stages is not None
        last = len(stages) - 1
        floor = start  # stages below it may not be pulled again (budget spent)
        level = start
        while level >= floor:
            stage = stages[level]
            piece = stage.pull()
            if not piece:
                if stage.capped:
                    self.truncated = True
                    floor = level + 1
                level -= 1
                continue
            room = stage.budget - stage.spent
            capped = len(piece) > room
            if capped:
                piece = piece[: max(room, 0)]
                floor = level + 1
                self.truncated = True
                where = "" if level == last else f" (inside the {stage.name} encoding)"
                self.notes.append(f"decoded body cap of {self.max_output} bytes reached{where}")
            stage.spent += len(piece)
            if level == last:
                if piece:
                    self.output_bytes += len(piece)
                    yield piece
                if capped:
                    return
            elif piece:
                stages[level + 1].push(piece)
                level += 1

    def _identity(self, data: bytes) -> Iterator[bytes]:
        room = self.max_output - self.output_bytes
        if len(data) > room:
            data = data[:room]
            self.truncated = True
            self.notes.append(f"decoded body cap of {self.max_output} bytes reached")
        for i in range(0, len(data), PIECE):
            self.output_bytes += len(data[i : i + PIECE])
            yield data[i : i + PIECE]

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.done or not data:
            return iter(())
        if not self._stages:
            return self._identity(bytes(data))
        self._stages[0].push(bytes(data))
        return self._pump(0)

    def finish(self) -> Iterator[bytes]:
        if self.done or not self._stages:
            return iter(())
        return self._finish()

    def _finish(self) -> Iterator[bytes]:
        assert self._stages is not None
        for level, stage in enumerate(self._stages):
            stage.end()
            yield from self._pump(level)
            if self.truncated:
                return
