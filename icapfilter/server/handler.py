"""The pyicap adapter: the only module that imports pyicap.

pyicap 1.0b1 gives the server shape (``ICAPServer`` is a ``TCPServer``,
``BaseICAPRequestHandler`` a stream handler) but its request loop breaks on
Python 3.10+ (it checks handlers with an ABC alias removed from
``collections``), mixes str and bytes in ``send_enc_error``, raises on
malformed headers and sends a random ISTag on every reply. We keep it as the
base classes and replace those parts here:
the per-connection loop is driven by :class:`ConnectionManager`, and each
message is run by the sans-IO :mod:`icapfilter.icap.exchange` (:mod:`.transaction`).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Generator
from typing import Any

import pyicap

from ..blockpage import BlockPage
from ..icap import render
from ..icap.errors import IcapProtocolError
from ..icap.exchange import ConnectionClosed
from ..icap.service import istag_for
from ..outcome import Outcome
from ..policy import PolicyHolder
from .connections import ConnectionManager
from .ratelog import SummaryLog
from .stream import (
    MessageTooSlow,
    SocketReader,
    SocketWriter,
    Timeouts,
    Wait,
    WriteDeadline,
)
from .transaction import ProtocolSettings, Transaction

log = logging.getLogger("icapfilter.server")

# A peer address as the socket module gives it: (host, port) or (host, port, flow, scope).
Address = tuple[Any, ...]


class IcapConnection(pyicap.BaseICAPRequestHandler):  # type: ignore[misc]  # pyicap is untyped
    """One persistent ICAP connection: a generator that serves its messages one
    after the other and yields whenever it waits for the client, so the
    connection manager can park it without a thread (:mod:`.stream`)."""

    def __init__(self, sock: socket.socket, client_address: Address, server: IcapServer) -> None:
        # Not calling StreamRequestHandler.__init__: it would run pyicap's whole
        # connection loop (``handle``) in this thread and close the socket.
        self.request = self.connection = self.sock = sock
        self.client_address = client_address
        self.server = server
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self.reader = SocketReader(sock, server.timeouts, trusted=server.trusted(client_address))
        self.writer = SocketWriter(sock, server.timeouts)
        self.close_connection = False
        self.deadline: Wait = None
        self.writing = False  # parked waiting to send, not to receive
        self._life = self._serve_all()

    def resume(self) -> bool:
        """Serve until the client's bytes run out; False when the connection
        must be closed, else ``deadline`` says how long it may wait (None:
        between messages)."""
        try:
            self.deadline = next(self._life)
        except StopIteration:
            return False
        self.writing = isinstance(self.deadline, WriteDeadline)
        return True

    def _serve_all(self) -> Generator[Wait, None, None]:
        while (yield from self._serve_one()):
            pass

    def _serve_one(self) -> Generator[Wait, None, bool]:
        server = self.server
        tx = Transaction(self.reader, self.writer.send, server.holder, server.blockpage,
                         server.settings)
        try:
            keep = yield from tx.run()
        except ConnectionClosed:
            return False
        except MessageTooSlow as exc:
            server.slow_clients.note(self.client_address[0], str(exc))
            error = (exc.status, str(exc))
        except IcapProtocolError as exc:
            error = (exc.status, str(exc))
        except OSError as exc:
            log.info("connection from %s lost: %s", self.client_address[0], exc)
            return False
        except Exception:
            outcome = tx.outcome()
            log.exception("internal error in %s %s", outcome.method, outcome.url)
            error = (500, "internal error")
        else:
            server.record(tx.outcome(), self.client_address)
            return keep
        yield from self._reject(tx, *error)
        return False

    def _reject(self, tx: Transaction, status: int, message: str) -> Generator[Wait, None, None]:
        self.server.record(tx.outcome(status), self.client_address, error=message)
        if tx.answered:
            return  # the answer had started: closing is the only signal left
        try:
            yield from self.writer.send(self._error(status, message))
        except OSError:
            pass

    def _error(self, code: int, message: str | None) -> bytes:
        return render.error_response(code, self.server.current_istag(), message or "")

    def send_error(self, code: int, message: str | None = None) -> None:
        """pyicap's version writes a misspelled attribute; ours renders an ICAP
        error, sent at once or not at all (it never waits for the client)."""
        try:
            self.sock.send(self._error(code, message))
        except OSError:
            pass

    def send_enc_error(self, code: int, message: str | None = None, body: str = "",
                       contenttype: str = "text/html") -> None:
        self.send_error(code, message)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


Recorder = Callable[[Outcome, Address, str | None], None]


class IcapServer(pyicap.ICAPServer):  # type: ignore[misc]  # pyicap is untyped
    """pyicap's TCPServer with bounded concurrency, SO_REUSEPORT and a client allow-list."""

    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        holder: PolicyHolder,
        blockpage: BlockPage,
        settings: ProtocolSettings,
        *,
        threads: int = 16,
        idle_timeout: float = 60.0,
        read_timeout: float = 30.0,
        head_timeout: float = 10.0,
        message_timeout: float = 60.0,
        min_body_rate: float = 256.0,
        send_timeout: float = 60.0,
        reuse_port: bool = False,
        allowed_clients: tuple[str, ...] = (),
        recorder: Recorder | None = None,
        max_connections: int | None = None,
        reserved_connections: int = 0,
    ) -> None:
        """``max_connections`` caps this process; ``settings.max_connections`` is what
        OPTIONS advertises (the whole server, every worker process together).
        ``reserved_connections`` of them only take trusted clients (those in
        ``allowed_clients``, or loopback when it is empty)."""
        self.holder = holder
        self.blockpage = blockpage
        self.settings = settings
        self.timeouts = Timeouts(head_timeout=head_timeout, read_timeout=read_timeout,
                                 message_timeout=message_timeout, min_body_rate=min_body_rate,
                                 send_timeout=send_timeout)
        self.reuse_port = reuse_port
        self._allowed = tuple(ipaddress.ip_network(net, strict=False) for net in allowed_clients)
        self.refused = SummaryLog(log, "refused ICAP connection (not in allowed_clients)")
        self.slow_clients = SummaryLog(log, "cut an ICAP message arriving too slowly")
        self._recorder = recorder
        self._istag = istag_for("start")
        self._istag_at = 0.0
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.manager = ConnectionManager(
            threads=threads,
            max_connections=max_connections or settings.max_connections,
            idle_timeout=idle_timeout,
            reserve=reserved_connections,
            overload_reply=lambda: render.error_response(
                503, self.current_istag(), "too many connections"),
        )
        super().__init__(address, IcapConnection)

    def current_istag(self) -> str:
        """The ISTag for error replies, refreshed at most once a second: the
        acceptor thread must not wait on a slow list store to refuse a client."""
        now = time.monotonic()
        if now - self._istag_at > 1.0:
            self._istag_at = now
            self._istag = istag_for(self.holder.current.generation)
        return self._istag

    def server_bind(self) -> None:
        if self.reuse_port:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def verify_request(self, request: socket.socket, client_address: Address) -> bool:
        if not self._allowed:
            return True
        address = _address(client_address)
        if address is not None and any(address in net for net in self._allowed):
            return True
        self.refused.note(str(address or client_address[0]))
        return False

    def trusted(self, client_address: Address) -> bool:
        """May use the reserved connection slots: in ``allowed_clients`` (then
        every accepted client is), or loopback when that list is empty."""
        address = _address(client_address)
        if address is None:
            return False
        if self._allowed:
            return any(address in net for net in self._allowed)
        return address.is_loopback

    def process_request(self, request: socket.socket, client_address: Address) -> None:
        conn = IcapConnection(request, client_address, self)
        self.manager.add(conn, trusted=conn.reader.trusted)

    def service_actions(self) -> None:
        """Called by ``serve_forever`` every poll interval: write the summaries due."""
        self.refused.flush()
        self.slow_clients.flush()

    def handle_error(self, request: object, client_address: Address) -> None:
        log.exception("error accepting a connection from %s", client_address)

    def record(self, outcome: Outcome, client_address: Address, error: str | None = None) -> None:
        if self._recorder is not None:
            try:
                self._recorder(outcome, client_address, error)
            except Exception:
                log.exception("access log failed")

    def drain_and_close(self, drain_timeout: float) -> None:
        self.manager.shutdown(drain_timeout)
        self.server_close()


def _address(client_address: Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The peer's address; an IPv4 client of an IPv6 socket (``::ffff:a.b.c.d``)
    as the IPv4 address, so IPv4 networks in ``allowed_clients`` match it."""
    try:
        address = ipaddress.ip_address(client_address[0].split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
