"""Connection slots: at the cap the longest-idle connection makes room, and
the reserve keeps slots for trusted clients when the others are all busy."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from icapfilter.server import connections
from icapfilter.server.connections import ConnectionManager


class Conn:
    """Once it has read a byte: waits inside a message (far deadline), or
    with ``answers`` is done with it and idle again."""

    def __init__(self, answers: bool = False) -> None:
        self.sock, self.peer = socket.socketpair()
        self.answers = answers
        self.deadline = None
        self.writing = False
        self.closed = threading.Event()

    def resume(self) -> bool:
        if self.sock.recv(100) and not self.answers:
            self.deadline = time.monotonic() + 60
        return True

    def close(self) -> None:
        self.sock.close()
        self.peer.close()
        self.closed.set()


@pytest.fixture
def manager():
    m = ConnectionManager(threads=2, max_connections=4, idle_timeout=60,
                          overload_reply=lambda: b"busy", reserve=2)
    yield m
    m.shutdown(drain_timeout=0.5)


def busy(manager: ConnectionManager, trusted: bool = False) -> Conn:
    conn = Conn()
    assert manager.add(conn, trusted=trusted)
    conn.peer.send(b"x")
    deadline = time.monotonic() + 3
    while conn not in manager._parked and time.monotonic() < deadline:
        time.sleep(0.01)
    return conn


def test_at_the_cap_the_longest_idle_connection_makes_room(manager, monkeypatch):
    monkeypatch.setattr(connections, "FRESH_GRACE", 0.0)
    idle = [Conn() for _ in range(4)]
    for conn in idle:
        assert manager.add(conn)
        time.sleep(0.01)
    newcomer = Conn()
    assert manager.add(newcomer)
    assert idle[0].closed.wait(2)
    assert not any(c.closed.is_set() for c in idle[1:])
    assert manager.evictions == 1 and manager.rejected == 0


def test_a_new_connection_is_not_evicted_before_its_first_message_can_arrive(manager):
    """In a burst, the newest connections must not push out the ones whose
    first message is on its way: those get a 503, not a silent close."""
    for _ in range(4):
        assert manager.add(Conn())
    assert not manager.add(Conn())
    assert manager.evictions == 0 and manager.rejected == 1


def test_a_connection_idle_after_a_message_can_be_evicted_at_once(manager):
    used = Conn(answers=True)
    assert manager.add(used)
    used.peer.send(b"x")  # one message served, then idle
    deadline = time.monotonic() + 3
    while used in manager._fresh and time.monotonic() < deadline:
        time.sleep(0.01)
    for _ in range(3):
        assert manager.add(Conn())
    assert manager.add(Conn())
    assert used.closed.wait(2)


def test_reserved_slots_take_only_trusted_clients(manager):
    busy(manager)
    busy(manager)  # untrusted clients now hold all their slots, inside messages
    refused = Conn()
    assert not manager.add(refused, trusted=False)
    assert refused.closed.is_set()
    assert manager.add(Conn(), trusted=True)
    assert manager.rejected == 1


def test_with_every_slot_busy_a_newcomer_gets_503(manager):
    for _ in range(4):
        busy(manager, trusted=True)
    late = Conn()
    late.sock.setblocking(True)
    assert not manager.add(late, trusted=True)
    assert manager.evictions == 0
