"""Slow, silent and greedy clients cost connection slots, never pool threads:
normal requests on other connections keep being answered at once."""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import ExitStack, contextmanager

import pytest

from icapfilter.server import connections
from icapfilter.server.readiness import SelectorPoller
from tests.icapserver import (
    IcapClient,
    TestPolicy,
    http_response_head,
    reqmod,
    respmod_head,
    running_server,
    serve_process,
    stop_process,
    with_settings,
)

pytestmark = pytest.mark.integration

RES = http_response_head()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def answered_within(port: int, url: str = "http://clean.example/") -> float:
    started = time.monotonic()
    with IcapClient(port, timeout=5) as c:
        assert c.transact(reqmod(url)).status == 204
    return time.monotonic() - started


@contextmanager
def trickling(port: int, count: int, first: bytes, piece: bytes, every: float):
    """``count`` connections that send ``first``, then ``piece`` every ``every`` s."""
    socks = [connect(port) for _ in range(count)]
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(every):
            for sock in socks:
                try:
                    sock.send(piece)
                except OSError:
                    pass

    for sock in socks:
        sock.sendall(first)
    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        yield socks
    finally:
        stop.set()
        thread.join(timeout=5)
        for sock in socks:
            sock.close()


@pytest.fixture(params=["default", "selector"])
def poller_kind(request, monkeypatch):
    """The default poller (epoll on Linux) and the portable one (FreeBSD, macOS)."""
    if request.param == "selector":
        monkeypatch.setattr(connections, "one_shot_poller", SelectorPoller)
    return request.param


def test_40_trickling_bodies_do_not_delay_normal_requests(poller_kind):
    head = respmod_head("http://c/", RES, preview=4096, allow204=True)
    with running_server(TestPolicy(), threads=16) as srv:
        port = srv.server_address[1]
        with trickling(port, 40, head + b"1\r\na\r\n", b"1\r\na\r\n", 1.0):
            time.sleep(1.5)  # every trickler has sent its head and a chunk or two
            assert srv.manager.parked_count == 40
            for _ in range(3):
                assert answered_within(port) < 1.0


def test_20_slowloris_heads_do_not_delay_normal_requests():
    head = reqmod("http://clean.example/")
    with running_server(TestPolicy(), threads=4) as srv:
        port = srv.server_address[1]
        socks = [connect(port) for _ in range(20)]
        try:
            for i in range(4):  # one byte a second on each, as slowloris does
                for sock in socks:
                    sock.send(head[i:i + 1])
                assert answered_within(port) < 0.5
                time.sleep(1.0)
        finally:
            for sock in socks:
                sock.close()


def test_1000_idle_connections_do_not_lock_out_a_new_one():
    with running_server(TestPolicy(), with_settings(max_connections=500)) as srv:
        port = srv.server_address[1]
        with ExitStack() as stack:
            for _ in range(1000):
                stack.enter_context(connect(port))
            time.sleep(1.2)  # past the grace of connections that never sent a byte
            assert srv.manager.open_count == 500
            for _ in range(3):
                assert answered_within(port) < 1.0
            assert srv.manager.evictions >= 1


def test_a_trickler_past_its_deadline_is_cut_with_408():
    head = respmod_head("http://c/", RES, preview=4096, allow204=True)
    with running_server(TestPolicy(), message_timeout=1.0, min_body_rate=400.0) as srv:
        port = srv.server_address[1]
        started = time.monotonic()
        with trickling(port, 1, head + b"1\r\na\r\n", b"1\r\na\r\n", 0.2) as (sock,):
            answer = sock.recv(4096)
            assert answer.startswith(b"ICAP/1.0 408 ")
            assert 0.9 < time.monotonic() - started < 3.0
        assert srv.slow_clients.total == 1
        assert answered_within(port) < 1.0


def test_a_slow_but_steady_body_is_not_cut():
    """Above min_body_rate a body may take longer than message_timeout."""
    head = respmod_head("http://c/", RES, preview=0, allow204=True) + b"0\r\n\r\n"
    piece = b"c8\r\n" + b"a" * 200 + b"\r\n"  # ~200 bytes every 0.1 s: 2000 B/s
    with running_server(TestPolicy(), message_timeout=0.5, min_body_rate=500.0) as srv:
        with IcapClient(srv.server_address[1]) as c:
            c.send(head)
            assert b" 100 " in c.read_head()
            for _ in range(15):
                c.send(piece)
                time.sleep(0.1)
            c.send(b"0\r\n\r\n")
            assert c.read_response().status == 204
        assert srv.slow_clients.total == 0


def test_clients_that_do_not_read_their_answers_hold_no_thread(poller_kind):
    """Echoes of 8 MB bodies to clients that never read: the answers wait in
    the poller, and two threads still serve everyone else at once."""
    body = b"x" * (8 << 20)
    res = http_response_head("application/octet-stream", length=len(body))
    message = (respmod_head("http://c/", res, preview=None, allow204=False)
               + b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body))
    with running_server(TestPolicy(), threads=2, send_timeout=30.0) as srv:
        port = srv.server_address[1]
        socks = [connect(port) for _ in range(4)]
        try:
            for sock in socks:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                threading.Thread(target=_send_quietly, args=(sock, message),
                                 daemon=True).start()
            deadline = time.monotonic() + 10
            while srv.manager.parked_count < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert srv.manager.parked_count == 4
            for _ in range(3):
                assert answered_within(port) < 1.0
        finally:
            for sock in socks:
                sock.close()


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass


def test_huge_encapsulated_offsets_are_refused_at_once_and_never_buffered():
    """Encapsulated promising 1 GB of HTTP head: 431 before any of it is read,
    while the client keeps sending megabytes of header lines."""
    proc, port = serve_process()
    try:
        rss_before = _rss_kb(proc.pid)
        with connect(port) as sock:
            sock.sendall(b"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: x\r\n"
                         b"Encapsulated: req-hdr=0, null-body=999999999\r\n\r\n"
                         b"GET http://x/ HTTP/1.1\r\n")
            started = time.monotonic()
            line = b"X-Big: " + b"a" * (1 << 20) + b"\r\n"
            try:
                for _ in range(50):
                    sock.sendall(line)
            except OSError:
                pass  # closed by the server after its answer
            answer = sock.recv(4096)
        assert answer.startswith(b"ICAP/1.0 431 "), answer[:80]
        assert time.monotonic() - started < 5
        assert _rss_kb(proc.pid) - rss_before < 20_000
    finally:
        stop_process(proc)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.fixture
def dual_stack_server():
    with running_server(address=("::", 0), allowed_clients=("127.0.0.1/32",)) as server:
        yield server


def test_ipv4_client_of_an_ipv6_listener_matches_ipv4_allowed_clients(dual_stack_server):
    port = dual_stack_server.server_address[1]
    with IcapClient(port) as c:  # connects to 127.0.0.1: seen as ::ffff:127.0.0.1
        assert c.transact(reqmod("http://clean.example/")).status == 204


def test_refused_connections_are_counted_and_logged_in_a_summary(caplog):
    with running_server(TestPolicy(), allowed_clients=("10.0.0.0/8",)) as srv:
        with caplog.at_level(logging.WARNING, logger="icapfilter.server"):
            for _ in range(50):
                with connect(srv.server_address[1]) as sock:
                    assert sock.recv(10) == b""
        assert srv.refused.total == 50
    lines = [r for r in caplog.records if "allowed_clients" in r.getMessage()]
    assert 1 <= len(lines) <= 2
