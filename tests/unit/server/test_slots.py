"""Connection slots: at the cap the longest-idle connection makes room, and
the reserve keeps slots for trusted clients when the others are all busy."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from icapfilter.server.connections import ConnectionManager


class Conn:
    """Waits inside a message (far deadline) once it has read a byte."""

    def __init__(self) -> None:
        self.sock, self.peer = socket.socketpair()
        self.deadline = None
        self.writing = False
        self.closed = threading.Event()

    def resume(self) -> bool:
        if self.sock.recv(100):
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


def test_at_the_cap_the_longest_idle_connection_makes_room(manager):
    idle = [Conn() for _ in range(4)]
    for conn in idle:
        assert manager.add(conn)
        time.sleep(0.01)
    newcomer = Conn()
    assert manager.add(newcomer)
    assert idle[0].closed.wait(2)
    assert not any(c.closed.is_set() for c in idle[1:])
    assert manager.evictions == 1 and manager.rejected == 0


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
