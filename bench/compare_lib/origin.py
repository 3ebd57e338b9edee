"""The local origin: serves the corpus under any host name (Squid resolves every
name to 127.0.0.1 through its hosts_file)."""

from __future__ import annotations

import multiprocessing as mp
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .corpus import Item

BLOCK_PAGE = b"<html><body><h1>Blocked</h1><p>This site is on a blacklist.</p></body></html>\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        pass  # Squid drops origin connections of blocked pages: not worth a traceback


class Origin:
    """The origin server in its own process (forked, so the corpus is shared), so
    that it does not share a GIL with the load generator."""

    def __init__(self, server: _Server) -> None:
        self.port = server.server_address[1]
        self.proc = mp.get_context("fork").Process(target=server.serve_forever, daemon=True)
        self.proc.start()
        server.socket.close()

    def pid(self) -> int:
        return self.proc.pid

    def shutdown(self) -> None:
        self.proc.terminate()
        self.proc.join(10)


def start_origin(items: list[Item], port: int = 80) -> tuple[Origin, int]:
    by_path = {it.path: it for it in items}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            path = self.path
            if "://" in path and not path.startswith("/"):  # absolute-form request
                path = "/" + path.split("://", 1)[1].split("/", 1)[1]
            it = by_path.get(path.split("?", 1)[0])
            if path.split("?", 1)[0] == "/blocked":  # squidGuard's redirect target
                self.send_response(403)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(BLOCK_PAGE)))
                self.end_headers()
                self.wfile.write(BLOCK_PAGE)
                return
            if it is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", it.ctype)
            if it.encoding:
                self.send_header("Content-Encoding", it.encoding)
            self.send_header("Content-Length", str(len(it.body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(it.body)

    try:
        server = _Server(("127.0.0.1", port), Handler)
    except OSError:
        server = _Server(("127.0.0.1", 0), Handler)
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    origin = Origin(server)
    return origin, origin.port
