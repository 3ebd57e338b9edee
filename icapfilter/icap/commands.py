"""What the exchange asks of whoever drives it: the commands it yields
(:mod:`icapfilter.icap.exchange`). Plain values, no I/O."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Send:
    """Send these bytes to the client (all of them) before going on."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Receive:
    """Answer with the next bytes from the client, ``b""`` at end of stream.
    ``in_body``: the heads are complete (the body's deadline applies)."""

    in_body: bool


@dataclass(frozen=True, slots=True)
class Expect:
    """The client is known to send next (its body after the heads, the rest
    after ``100 Continue``): worth a brief wait before parking."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait this long before the next command (a block page's last chunk)."""

    seconds: float


Command = Send | Receive | Expect | Pause
# The exchange's generators: they yield commands and are sent the bytes that
# answer a Receive (None after any other command).
Steps = Generator[Command, bytes | None, bool]
Reading = Generator[Command, bytes | None, bytes]

HEAD = Receive(in_body=False)
BODY = Receive(in_body=True)
EXPECT = Expect()


class ConnectionClosed(Exception):
    """The peer closed the connection cleanly between two messages."""
