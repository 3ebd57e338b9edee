"""One ICAP transaction on a socket: moves bytes between the connection and
the sans-IO :class:`~icapfilter.icap.exchange.Exchange`, which decides
everything of the protocol (preview, 100 Continue, 204 or echo, hold then
stream, late block).

:meth:`Transaction.run` is a generator: it yields while the client's bytes
are not there yet or while the client does not read (:mod:`.stream`), so a
pool thread never waits for a client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator

from .. import __version__
from ..blockpage import BlockPage
from ..icap.exchange import Exchange, Expect, Pause, Receive, Send
from ..icap.service import ProtocolSettings
from ..outcome import Outcome
from ..policy import Client, PolicyHolder
from ..verdict import Verdict
from .judge import PolicyJudge
from .stream import SocketReader, Wait

__all__ = ["EXPECT_BODY", "SOFTWARE", "ProtocolSettings", "Transaction"]

log = logging.getLogger("icapfilter.server")

SOFTWARE = f"icapfilter/{__version__}"

# How long a pool thread waits for a trusted client's body, after the heads and
# after 100 Continue, before it parks the message (see SocketReader.expect).
EXPECT_BODY = 0.05


class Transaction:
    """Handles one ICAP message on a connection; ``run`` returns keep-alive."""

    def __init__(
        self,
        reader: SocketReader,
        send: Callable[[bytes], Generator[Wait, None, None]],
        holder: PolicyHolder,
        blockpage: BlockPage,
        settings: ProtocolSettings,
    ) -> None:
        self.reader = reader
        self._send = send
        self.judge = PolicyJudge(holder, blockpage)
        self.exchange: Exchange[Verdict] = Exchange(reader.buffer, self.judge, settings,
                                                    SOFTWARE)

    @property
    def answered(self) -> bool:
        """Bytes of the answer went out: an error can only close the connection."""
        return self.exchange.answered

    def run(self) -> Generator[Wait, None, bool]:
        """Read and answer one message; returns keep-alive."""
        reader = self.reader
        reader.begin_message()
        steps = self.exchange.run()
        value: bytes | None = None
        while True:
            try:
                command = steps.send(value)
            except StopIteration as stop:
                keep: bool = stop.value
                break
            value = None
            if type(command) is Receive:
                if command.in_body:
                    reader.heads_done()
                value = yield from reader.receive()
            elif type(command) is Send:
                yield from self._send(command.data)
            elif type(command) is Expect:
                reader.expect(EXPECT_BODY)
            elif type(command) is Pause:
                time.sleep(command.seconds)
            else:
                raise TypeError(f"unknown exchange command {command!r}")
        if self.exchange.late:
            verdict = self.exchange.verdict
            log.warning("late block after streaming started, answer aborted: %s (%s)",
                        self.outcome().url, verdict.reason if verdict else "-")
        return keep

    def outcome(self, status: int | None = None) -> Outcome:
        """What happened, for the access log and statistics."""
        exchange = self.exchange
        request = exchange.request
        info = self.judge.info
        response = request.http_response if request else None
        return Outcome(
            service=request.service if request else "-",
            method=request.method if request else "-",
            url=info.url if info else "-",
            client=info.client if info else Client(),
            status=exchange.status if status is None else status,
            verdict=exchange.verdict,
            late=exchange.late,
            body_bytes=exchange.body_bytes,
            started=self.reader.started,
            http_method=info.method if info else "-",
            http_status=response.status if response else 0,
            content_type=(response.headers.get("Content-Type") or "") if response else "",
            page_bytes=exchange.page_bytes,
        )
