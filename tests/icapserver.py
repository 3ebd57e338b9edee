"""Test helpers: an in-process ICAP server on a free port, a raw ICAP client,
a small policy whose decisions tests can predict, and a real `icapfilter
serve` process with its access log and a Redis holding its lists."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from icapfilter.blockpage import BlockPage
from icapfilter.icap.parse import find_head_end
from icapfilter.policy import Policy, PolicyHolder, RequestInfo, ResponseInfo
from icapfilter.server.handler import IcapServer
from icapfilter.server.transaction import ProtocolSettings
from icapfilter.verdict import Verdict
from tests.polling import WaitTimeout, wait_until
from tests.redisserver import RedisServer, free_port, redis_available


class WordScan:
    """Blocks a body containing ``word``, even split across chunks."""

    def __init__(self, word: bytes, limit: int) -> None:
        self.word = word
        self.tail = b""
        self.seen = 0
        self.limit = limit
        self.found = False

    @property
    def certain(self) -> bool:
        return self.found or self.seen >= self.limit

    def feed(self, data: bytes) -> None:
        window = self.tail + data
        if self.word in window:
            self.found = True
        self.tail = window[-(len(self.word) - 1):]
        self.seen += len(data)

    def provisional(self) -> Verdict:
        return self.finish()

    def finish(self) -> Verdict:
        if self.found:
            return Verdict.block("banned phrase", "test-phrases",
                                 phrases=(self.word.decode(),), score=0)
        return Verdict.allow("clean", bytes_scanned=self.seen)


class TestPolicy:
    """URLs containing ``blocked`` are blocked; text bodies containing ``badword`` too."""

    __test__ = False

    def __init__(self, generation: str = "g1", scan_limit: int = 10 * 1024 * 1024) -> None:
        self.generation = generation
        self.scan_limit = scan_limit

    def decide_request(self, request: RequestInfo) -> Verdict:
        if "blocked" in request.url:
            return Verdict.block("listed URL", "test-category", entry="blocked")
        return Verdict.allow("not listed")

    def begin_response(self, request: RequestInfo, response: ResponseInfo):  # type: ignore[no-untyped-def]
        if "blocked" in request.url:
            return Verdict.block("listed URL", "test-category")
        if not (response.content_type or "").startswith("text/"):
            return Verdict.allow("not a scanned type")
        return WordScan(b"badword", self.scan_limit)


@contextmanager
def running_server(
    policy: Policy | None = None,
    settings: ProtocolSettings | None = None,
    address: tuple[str, int] = ("127.0.0.1", 0),
    **kwargs: object,
) -> Iterator[IcapServer]:
    holder = PolicyHolder(policy or TestPolicy())
    settings = settings or ProtocolSettings()
    server = IcapServer(address, holder, BlockPage.default(), settings,
                        **kwargs)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.drain_and_close(2.0)
        thread.join(timeout=5)


def with_settings(**changes: object) -> ProtocolSettings:
    return replace(ProtocolSettings(), **changes)  # type: ignore[arg-type]


# -- a raw client ------------------------------------------------------------

def chunked(body: bytes, size: int = 8192, ieof: bool = False) -> bytes:
    out = b"".join(b"%x\r\n%b\r\n" % (len(body[i:i + size]), body[i:i + size])
                   for i in range(0, len(body), size))
    return out + (b"0; ieof\r\n\r\n" if ieof else b"0\r\n\r\n")


def http_request_head(url: str = "http://example.com/", method: str = "GET") -> bytes:
    host = url.split("/")[2] if "://" in url else url
    return f"{method} {url} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def http_response_head(content_type: str = "text/html", length: int | None = None,
                       extra: str = "") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return (head + extra + "\r\n").encode()


def reqmod(url: str = "http://example.com/", *, allow204: bool = True, service: str = "reqmod",
           extra: str = "") -> bytes:
    req = http_request_head(url)
    headers = f"Host: 127.0.0.1\r\nEncapsulated: req-hdr=0, null-body={len(req)}\r\n"
    if allow204:
        headers += "Allow: 204\r\n"
    return (f"REQMOD icap://127.0.0.1/{service} ICAP/1.0\r\n{headers}{extra}\r\n").encode() + req


def respmod_head(url: str, res: bytes, *, preview: int | None, allow204: bool,
                 has_body: bool = True, extra: str = "") -> bytes:
    req = http_request_head(url)
    body_kind = "res-body" if has_body else "null-body"
    enc = f"req-hdr=0, res-hdr={len(req)}, {body_kind}={len(req) + len(res)}"
    headers = f"Host: 127.0.0.1\r\nEncapsulated: {enc}\r\n"
    if preview is not None:
        headers += f"Preview: {preview}\r\n"
    if allow204:
        headers += "Allow: 204\r\n"
    return (f"RESPMOD icap://127.0.0.1/respmod ICAP/1.0\r\n{headers}{extra}\r\n").encode() \
        + req + res


class IcapClient:
    """A blocking raw-socket ICAP client that understands previews and 100 Continue."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> IcapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buffer += data
        return True

    def read_head(self) -> bytes:
        while find_head_end(self.buffer) < 0:
            if not self._fill():
                raise ConnectionError(f"closed before a head; got {self.buffer[:200]!r}")
        end = find_head_end(self.buffer)
        head, self.buffer = self.buffer[:end], self.buffer[end:]
        return head

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ConnectionError("closed early")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_chunked(self) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                if not self._fill():
                    raise ConnectionError("closed inside chunked body")
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                self.read_exact(2)
                return body
            body += self.read_exact(size)
            self.read_exact(2)

    def read_response(self) -> IcapResponse:
        head = self.read_head()
        return self._finish(head)

    def _finish(self, head: bytes) -> IcapResponse:
        status = int(head.split(b" ", 2)[1])
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            if b":" in line:
                k, v = line.split(b":", 1)
                headers[k.decode().lower()] = v.strip().decode()
        enc = dict(p.strip().split("=") for p in headers.get("encapsulated", "null-body=0")
                   .split(","))
        body_key = next((k for k in enc if k.endswith("-body")), "null-body")
        heads = self.read_exact(int(enc[body_key]))
        body = b"" if body_key == "null-body" else self.read_chunked()
        return IcapResponse(status, headers, enc, heads, body)

    def transact(self, head: bytes, body: bytes | None = None, *, preview: int | None = None,
                 chunk_size: int = 8192) -> IcapResponse:
        """Send one message (with preview handling when ``preview`` is set) and read the answer."""
        self.send(head)
        if body is None:
            return self.read_response()
        if preview is None:
            self.send(chunked(body, chunk_size))
            return self.read_response()
        first, rest = body[:preview], body[preview:]
        whole = not rest
        self.send(chunked(first, chunk_size, ieof=whole))
        answer = self.read_head()
        if b" 100 " not in answer.split(b"\r\n")[0]:
            return self._finish(answer)
        assert not whole, "server sent 100 Continue after ieof"
        self.send(chunked(rest, chunk_size))
        return self.read_response()


class IcapResponse:
    def __init__(self, status: int, headers: dict[str, str], encapsulated: dict[str, str],
                 heads: bytes, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.encapsulated = encapsulated
        self.heads = heads
        self.body = body

    @property
    def http_status(self) -> int | None:
        if not self.heads.startswith(b"HTTP/"):
            return None
        return int(self.heads.split(b" ", 2)[1])

    def __repr__(self) -> str:
        return f"IcapResponse({self.status}, {self.headers}, {self.heads[:80]!r})"


# -- a real `icapfilter serve` process -----------------------------------------

OPTIONS = b"OPTIONS icap://x/reqmod ICAP/1.0\r\nHost: x\r\n\r\n"


def answers_options(port: int) -> bool:
    try:
        with IcapClient(port, timeout=2) as c:
            c.transact(OPTIONS)
    except OSError:
        return False
    return True


def serve_process(*args: str, config: str | None = None,
                  command: tuple[str, ...] = (sys.executable, "-m", "icapfilter"),
                  ) -> tuple[subprocess.Popen, int]:
    """Start `python -m icapfilter serve` (or ``command`` serve) on a free port;
    return it once it answers."""
    port = free_port()
    cmd = [*command, "serve", "--listen", f"127.0.0.1:{port}", *args]
    if config:
        cmd += ["--config", config]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        return answers_options(port)

    try:
        wait_until(up, timeout=30, interval=0.02)
    except WaitTimeout:
        proc.kill()
        raise RuntimeError("server did not start") from None
    return proc, port


def stop_process(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=20)


@contextmanager
def serving(config: Path, *args: str) -> Iterator[int]:
    """`icapfilter serve --config config` for the duration of the block; its port."""
    proc, port = serve_process("--config", str(config), *args)
    try:
        yield port
    finally:
        try:
            stop_process(proc)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class ServedLog:
    """The JSON access log of the server on ``port``.

    A line is written just after its answer, so a test that got a page through
    Squid may read the log a moment too early. Each read first sends a REQMOD
    for a marker URL and waits for the marker's line: by then every answer
    sent before it has its line too (and a missing line is a real miss, which
    a fixed sleep could not promise).
    """

    path: Path
    port: int

    def records(self) -> list[dict]:
        marker = f"http://log-marker.test/{uuid.uuid4().hex}"
        with IcapClient(self.port) as client:
            client.transact(reqmod(marker))

        def with_marker() -> str | None:
            text = self.path.read_text()
            return text if marker in text else None

        text = wait_until(with_marker, timeout=10, message=f"no access log line for {marker}")
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def logged_methods(log: ServedLog | Path, url: str) -> list[str]:
    """The ICAP methods of the JSON access log's records for ``url``, in order.

    Give a :class:`ServedLog`; a bare path has no server to send the marker to,
    so it is read after a fixed pause, which may be too short on a busy machine.
    """
    if isinstance(log, Path):
        time.sleep(0.3)
        records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    else:
        records = log.records()
    return [r["method"] for r in records if r["url"] == url]


@contextmanager
def redis_with_lists(*trees: Path) -> Iterator[RedisServer]:
    """A Redis of its own holding ``trees``, loaded as an admin does (`icapfilter lists load`)."""
    if not redis_available():
        pytest.skip("redis-server is not installed (the test command installs it)")
    with RedisServer() as redis:
        subprocess.run([sys.executable, "-m", "icapfilter", "lists", "load", "--redis", redis.url,
                        *map(str, trees)], check=True, capture_output=True, timeout=60)
        yield redis
