"""One-shot readiness, on epoll and on the portable selector, and the
connection manager serving through either."""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest

from icapfilter.server.connections import ConnectionManager
from icapfilter.server.readiness import EpollPoller, SelectorPoller, one_shot_poller

POLLERS = [SelectorPoller]
if hasattr(__import__("select"), "epoll"):
    POLLERS.insert(0, EpollPoller)


@dataclass(eq=False)
class Pair:
    sock: socket.socket
    peer: socket.socket = field(repr=False)


@pytest.fixture(params=POLLERS, ids=lambda c: c.__name__)
def poller(request):
    p = request.param()
    yield p
    p.close()


def pair() -> Pair:
    a, b = socket.socketpair()
    return Pair(a, b)


def test_a_readable_connection_is_reported_once_until_armed_again(poller) -> None:
    c = pair()
    poller.add(c)
    assert poller.poll(0.05) == []
    c.peer.send(b"x")
    assert poller.poll(1.0) == [c]
    assert poller.poll(0.05) == []  # still readable, but disarmed
    poller.arm(c)
    assert poller.poll(1.0) == [c]


def test_a_connection_armed_for_writing_is_reported_when_it_can_send(poller) -> None:
    c = pair()
    c.sock.setblocking(False)
    try:
        while True:  # fill the socket buffers: not writable now
            c.sock.send(b"x" * 65536)
    except BlockingIOError:
        pass
    poller.add(c)
    c.peer.send(b"x")
    assert poller.poll(1.0) == [c]  # readable, as armed by add
    poller.arm(c, write=True)
    assert poller.poll(0.1) == []  # readable still, but armed for writing only
    c.peer.setblocking(False)
    try:
        while c.peer.recv(1 << 20):  # the client reads its answer: room to send
            pass
    except BlockingIOError:
        pass
    assert poller.poll(1.0) == [c]


def test_arming_from_another_thread_reaches_a_poll_in_progress(poller) -> None:
    c = pair()
    poller.add(c)
    c.peer.send(b"x")
    assert poller.poll(1.0) == [c]
    threading.Timer(0.1, poller.arm, args=(c,)).start()
    started = time.monotonic()
    got = []
    while not got and time.monotonic() - started < 3:
        got = poller.poll(3.0)
    assert got == [c]
    assert time.monotonic() - started < 2


def test_a_removed_connection_is_never_reported(poller) -> None:
    c, d = pair(), pair()
    poller.add(c)
    poller.add(d)
    poller.remove(c)
    c.peer.send(b"x")
    d.peer.send(b"x")
    assert poller.poll(1.0) == [d]


def test_wake_makes_poll_return_empty(poller) -> None:
    threading.Timer(0.1, poller.wake).start()
    started = time.monotonic()
    assert poller.poll(5.0) == []
    assert time.monotonic() - started < 2


def test_linux_gets_the_epoll_poller() -> None:
    p = one_shot_poller()
    try:
        expected = EpollPoller if EpollPoller in POLLERS else SelectorPoller
        assert isinstance(p, expected)
    finally:
        p.close()


class EchoConn:
    """Answers each line with the line; closes on 'bye'."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")
        self.closed = threading.Event()
        self.deadline = None
        self.writing = False

    def resume(self) -> bool:
        line = self.file.readline()
        if not line or line == b"bye\n":
            return False
        self.sock.sendall(line)
        return True

    def close(self) -> None:
        self.file.close()
        self.sock.close()
        self.closed.set()


@pytest.mark.parametrize("make", POLLERS, ids=lambda c: c.__name__)
def test_manager_serves_many_messages_on_persistent_connections_and_sweeps_idle_ones(
        make) -> None:
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    manager = ConnectionManager(threads=2, max_connections=10, idle_timeout=0.5,
                                overload_reply=lambda: b"busy\n", poller=make())
    clients = []
    try:
        for _ in range(4):
            a, b = socket.socketpair()
            conn = EchoConn(a)
            assert manager.add(conn)
            clients.append((b, b.makefile("rb"), conn))
        for i in range(20):
            for b, f, _ in clients:
                b.sendall(b"m%d\n" % i)
                assert f.readline() == b"m%d\n" % i
        b, f, conn = clients[0]
        b.sendall(b"bye\n")
        assert conn.closed.wait(2)
        assert manager.open_count == 3
        assert all(c.closed.wait(3) for _, _, c in clients[1:])  # idle past 0.5 s
        assert manager.open_count == 0
    finally:
        manager.shutdown(drain_timeout=1)
        for b, f, _ in clients:
            f.close()
            b.close()
    if fds is not None:  # the poller and its wake-up pair are closed with the manager
        assert len(os.listdir("/proc/self/fd")) == fds

