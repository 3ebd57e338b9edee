"""The local origin: serves the corpus under any host name (Squid resolves every
name to 127.0.0.1 through its hosts_file).

One asyncio event loop in its own process, not a thread per connection. Squid
keeps idle persistent connections to the origin per host name (2,000 names),
for a minute by default (``server_idle_pconn_timeout``): after a 50-client run
the earlier threaded origin held 6,000-7,000 threads, one per connection, and
when Squid closed the idle ones in bulk their threads woke together and
queued for the GIL in front of the threads serving the next run. The first
fixed-rate runs after the closed-loop phase paid for it, whichever scenario
they timed (the 19:47 full run: Squid alone's p99 73-114 ms, squidGuard's 25
ms and icapfilter URLs-only's 172 ms when put first, against 5-6 ms later in
the round). An idle connection here is one registered socket and costs
nothing while it waits.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import socket

from .corpus import Item

BLOCK_PAGE = b"<html><body><h1>Blocked</h1><p>This site is on a blacklist.</p></body></html>\n"
MAX_HEAD = 64 * 1024


def _head(status: str, fields: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in fields), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def responses(items: list[Item]) -> dict[str, bytes]:
    """Every answer, head and body, built once: path -> bytes to send."""
    out = {"/blocked": _head("403 Forbidden", [("Content-Type", "text/html"),
                                                ("Content-Length", str(len(BLOCK_PAGE)))])
           + BLOCK_PAGE}  # squidGuard's redirect target
    for it in items:
        fields = [("Content-Type", it.ctype)]
        if it.encoding:
            fields.append(("Content-Encoding", it.encoding))
        fields += [("Content-Length", str(len(it.body))), ("Cache-Control", "no-store")]
        out[it.path] = _head("200 OK", fields) + it.body
    return out


NOT_FOUND = _head("404 Not Found", [("Content-Length", "0")])
BAD_REQUEST = _head("400 Bad Request", [("Content-Length", "0"), ("Connection", "close")])


def answer(by_path: dict[str, bytes], head: bytes) -> tuple[bytes, bool]:
    """The bytes answering one request head (no body: GET only), and whether
    the connection stays open."""
    line, _, rest = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return BAD_REQUEST, False
    target = parts[1].decode("latin-1")
    if "://" in target and not target.startswith("/"):  # absolute form
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    keep = parts[2] == b"HTTP/1.1"
    lowered = rest.lower()
    if b"connection: close" in lowered:
        keep = False
    elif b"connection: keep-alive" in lowered:
        keep = True
    return by_path.get(target.split("?", 1)[0], NOT_FOUND), keep


class _Http(asyncio.Protocol):
    def __init__(self, by_path: dict[str, bytes]) -> None:
        self.by_path = by_path
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        transport = self.transport
        assert transport is not None
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            out, keep = answer(self.by_path, buf[:end])
            buf = buf[end + 4:]
            transport.write(out)
            if not keep:
                transport.close()
                return
        if len(buf) > MAX_HEAD:
            transport.write(BAD_REQUEST)
            transport.close()
            return
        self.buf = buf


def _serve(sock: socket.socket, by_path: dict[str, bytes]) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            lambda: _Http(by_path), sock=sock, backlog=4096)
        await server.serve_forever()

    asyncio.run(main())


class Origin:
    """The origin server in its own process (forked, so the corpus is shared), so
    that it does not share a GIL with the load generator."""

    def __init__(self, sock: socket.socket, by_path: dict[str, bytes]) -> None:
        self.port = sock.getsockname()[1]
        self.proc = mp.get_context("fork").Process(target=_serve, args=(sock, by_path),
                                                   daemon=True)
        self.proc.start()
        sock.close()

    def pid(self) -> int:
        return self.proc.pid

    def shutdown(self) -> None:
        self.proc.terminate()
        self.proc.join(10)


def start_origin(items: list[Item], port: int = 80) -> tuple[Origin, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    origin = Origin(sock, responses(items))
    return origin, origin.port
