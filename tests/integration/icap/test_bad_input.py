"""Malformed, truncated, slow and hostile clients: each gets a clear ICAP status
(or a closed connection), and every other connection keeps being served."""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.icapserver import (
    IcapClient,
    TestPolicy,
    chunked,
    http_response_head,
    reqmod,
    respmod_head,
    running_server,
    with_settings,
)
from tests.polling import wait_until


@pytest.fixture(scope="module")
def server():
    with running_server(TestPolicy(), read_timeout=1.0, head_timeout=1.5,
                        idle_timeout=30.0) as srv:
        yield srv


def port_of(server) -> int:
    return server.server_address[1]


def still_serves(server) -> None:
    with IcapClient(port_of(server)) as c:
        assert c.transact(reqmod("http://clean.example/")).status == 204
        assert c.transact(reqmod("http://blocked.example/")).http_status == 403


def status_and_close(server, data: bytes, timeout: float = 5.0) -> tuple[int | None, bool]:
    """Send raw bytes; return the ICAP status answered (or None) and whether it closed."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        closed = False
        try:
            while True:
                part = sock.recv(65536)
                if not part:
                    closed = True
                    break
                received += part
        except TimeoutError:
            pass
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"ICAP/1.0 ") else None
    return status, closed


RES = http_response_head()


@pytest.mark.parametrize("data,status", [
    (b"HELLO\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nno colon here\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nHost: x\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/1.1\r\nEncapsulated: req-hdr=0, null-body=3\r\n\r\n", 505),
    (b"PUT icap://x/reqmod ICAP/1.0\r\n\r\n", 501),
    (b"REQMOD icap://x/nosuch ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=3\r\n\r\n", 404),
    (b"RESPMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: res-hdr=0, null-body=3\r\n\r\n", 405),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=20\r\n\r\n"
     b"GET / HTTP/1.1\r\n\r\nXX", 400),   # head does not end at the offset
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=900\r\n\r\n"
     b"GET / HTTP/1.1\r\n\r\n", 408),     # offsets past the data: times out
    (b"OPTIONS icap://x/reqmod ICAP/1.0\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (respmod_head("http://c/", RES, preview=None, allow204=True) + b"zz\r\nabc\r\n", 400),
    (respmod_head("http://c/", RES, preview=None, allow204=True) + b"3\r\nabcdef\r\n0\r\n\r\n",
     400),                                 # chunk longer than announced
    (respmod_head("http://c/", RES, preview=None, allow204=True) + b"1" * 400, 413),
    (respmod_head("http://c/", RES, preview=None, allow204=True) + b"10\r\nshort", 408),
])
def test_malformed_message_gets_status_and_close(server, data, status):
    got, closed = status_and_close(server, data)
    assert got == status
    assert closed
    still_serves(server)


def test_truncated_body_does_not_hurt_the_server(server):
    sock = socket.create_connection(("127.0.0.1", port_of(server)))
    sock.sendall(respmod_head("http://c/", RES, preview=None, allow204=True) + b"100\r\nabc")
    sock.close()
    still_serves(server)


def test_idle_client_is_timed_out_inside_a_head(server):
    started = time.monotonic()
    status, closed = status_and_close(server, b"REQMOD icap://x/reqmod ICAP/1.0\r\n")
    assert status == 408 and closed
    assert time.monotonic() - started < 5


def test_slowloris_client_is_cut_at_the_head_deadline(server):
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        started = time.monotonic()
        try:
            for _ in range(40):
                sock.sendall(b"X-Slow: y\r\n")
                time.sleep(0.25)  # the trickle is the attack under test
        except OSError:
            pass
        data = sock.recv(4096)
        assert time.monotonic() - started < 6
        assert data == b"" or b" 408 " in data or b" 400 " in data


def test_200_idle_connections_do_not_stop_service():
    with running_server(TestPolicy(), with_settings(max_connections=300), threads=4) as srv:
        idle = [socket.create_connection(("127.0.0.1", srv.server_address[1]))
                for _ in range(200)]
        try:
            wait_until(lambda: srv.manager.open_count >= 200)
            still_serves(srv)
        finally:
            for sock in idle:
                sock.close()


def test_idle_persistent_connections_are_closed_after_the_idle_timeout():
    with running_server(TestPolicy(), idle_timeout=1.0) as srv:
        with IcapClient(srv.server_address[1]) as c:
            assert c.transact(reqmod()).status == 204
            idle_since = time.monotonic()
            c.sock.settimeout(5)
            assert c.sock.recv(10) == b""  # blocks until the server closes
            assert time.monotonic() - idle_since >= 0.9


def test_client_allow_list_refuses_other_addresses():
    with running_server(TestPolicy(), allowed_clients=("10.0.0.0/8",)) as srv:
        with socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=5) as sock:
            sock.sendall(reqmod())
            assert sock.recv(100) == b""


def test_policy_exception_gives_500_and_the_server_lives_on():
    class Broken(TestPolicy):
        def decide_request(self, request):
            raise RuntimeError("bug")

    with running_server(Broken()) as srv:
        status, closed = status_and_close(srv, reqmod())
        assert status == 500 and closed
        with IcapClient(srv.server_address[1]) as c:
            assert c.transact(respmod_head("http://c/", RES, preview=None, allow204=True,
                                           has_body=False)).status == 204


VALID = [
    reqmod("http://clean.example/"),
    respmod_head("http://clean.example/", RES, preview=4, allow204=True) + chunked(b"abcd"),
    b"OPTIONS icap://127.0.0.1/respmod ICAP/1.0\r\nHost: x\r\n\r\n",
]


def mutate(data: bytes, ops: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, pos, piece in ops:
        if not out:
            break
        pos %= len(out)
        if kind == 0:
            out[pos:pos + 1] = piece
        elif kind == 1:
            del out[pos:pos + len(piece) + 1]
        else:
            out[pos:pos] = piece
    return bytes(out)


messages = st.one_of(
    st.binary(max_size=600),
    st.builds(mutate, st.sampled_from(VALID),
              st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000),
                                 st.binary(min_size=0, max_size=8)), min_size=1, max_size=6)),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=messages)
def test_garbage_never_breaks_the_server(server, data):
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except (ConnectionResetError, TimeoutError, BrokenPipeError):
            pass
    with IcapClient(port_of(server)) as c:
        assert c.transact(reqmod("http://clean.example/")).status == 204
