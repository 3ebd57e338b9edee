"""A transaction is a generator that yields instead of waiting for the client:
driven by hand here, over a socket pair, with no pool and no poller."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from icapfilter.blockpage import BlockPage
from icapfilter.icap.errors import IcapProtocolError
from icapfilter.policy import PolicyHolder
from icapfilter.server.stream import (
    MessageTooSlow,
    SocketReader,
    SocketWriter,
    Timeouts,
    WriteDeadline,
)
from icapfilter.server.transaction import ProtocolSettings, Transaction
from tests.icapserver import TestPolicy, http_response_head, reqmod, respmod_head


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


def transaction(sock: socket.socket, sent: list[bytes], timeouts: Timeouts | None = None,
                linger: float = 0):
    reader = SocketReader(sock, timeouts or Timeouts(), linger=linger)

    def send(data: bytes):
        sent.append(data)
        yield from ()

    return Transaction(reader, send, PolicyHolder(TestPolicy()), BlockPage.default(),
                       ProtocolSettings())


def test_a_message_split_across_waits_is_answered_once_whole(pair):
    ours, theirs = pair
    sent: list[bytes] = []
    steps = transaction(ours, sent).run()
    assert next(steps) is None  # nothing yet: idle, the connection may be parked
    message = reqmod("http://clean.example/")
    theirs.send(message[:10])
    deadline = next(steps)  # inside the head now: parked with a deadline
    assert deadline is not None and deadline > time.monotonic()
    assert sent == []
    theirs.send(message[10:])
    with pytest.raises(StopIteration) as done:
        next(steps)
    assert done.value.value is True  # keep-alive
    assert b"ICAP/1.0 204" in sent[0]


def test_a_body_waits_between_chunks_and_the_verdict_sees_all_of_them(pair):
    ours, theirs = pair
    sent: list[bytes] = []
    head = respmod_head("http://c/", http_response_head(), preview=None, allow204=True)
    steps = transaction(ours, sent).run()
    theirs.send(head)
    for piece in (b"3\r\nbad\r\n", b"4\r\nword\r\n", b"0\r\n\r\n"):
        assert next(steps) is not None
        theirs.send(piece)
    with pytest.raises(StopIteration):
        next(steps)
    assert b"X-Icapfilter-Verdict: block" in sent[0]


def test_a_message_resumed_after_its_deadline_is_too_slow(pair):
    ours, theirs = pair
    steps = transaction(ours, [], Timeouts(head_timeout=0.05)).run()
    theirs.send(b"REQMOD icap://x/reqmod ICAP/1.0\r\n")
    next(steps)
    time.sleep(0.1)
    with pytest.raises(MessageTooSlow) as cut:
        next(steps)
    assert cut.value.status == 408


def test_body_deadline_follows_the_average_rate(pair):
    reader = SocketReader(pair[0], Timeouts(read_timeout=100, message_timeout=10,
                                            min_body_rate=100), linger=0)
    reader.started = reader.last_byte = 1000.0
    reader.in_body = True
    reader.received = 500
    assert reader.deadline() == 1010.0  # within message_timeout no rate is asked
    reader.received = 5000
    assert reader.deadline() == 1050.0  # 5000 bytes are 50 s at 100 B/s
    reader.received = 50_000
    assert reader.deadline() == 1100.0  # but no read waits more than read_timeout


def test_the_head_buffer_never_grows_past_the_limit_and_one_receive(pair):
    ours, theirs = pair
    tx = transaction(ours, [])
    reader = tx.reader
    steps = tx.run()
    theirs.setblocking(False)
    sent = 0
    with pytest.raises(IcapProtocolError) as err:
        while True:
            try:
                sent += theirs.send(b"X-Big: " + b"a" * 65536)
            except BlockingIOError:
                pass
            next(steps)
    assert err.value.status == 431
    assert len(reader.buffer) <= 65536 + 65536


def test_a_send_the_client_does_not_read_parks_for_writability_then_times_out(pair):
    ours, theirs = pair
    writer = SocketWriter(ours, Timeouts(send_timeout=0.2), linger=0)
    steps = writer.send(b"x" * 50_000_000)  # far more than the socket buffers hold
    deadline = next(steps)
    assert isinstance(deadline, WriteDeadline)
    theirs.recv(65536)  # the client reads a little: progress, a new deadline
    assert next(steps) >= deadline
    time.sleep(0.3)
    with pytest.raises(TimeoutError):
        next(steps)


@pytest.mark.parametrize("trusted", [True, False])
def test_an_expected_body_is_awaited_briefly_for_a_trusted_client_only(pair, trusted):
    """After the heads or 100 Continue, Squid's body is a few ms away: waiting
    for it beats a trip through the poller, but a hostile client must not hold
    a thread that way."""
    ours, theirs = pair
    reader = SocketReader(ours, Timeouts(), linger=0, trusted=trusted)
    reader.begin_message()
    reader.heads_done()
    reader.expect(1.0)
    later = threading.Timer(0.05, theirs.send, args=(b"body",))
    later.start()
    steps = reader.receive()
    try:
        if trusted:
            with pytest.raises(StopIteration) as got:
                next(steps)
            assert got.value.value == b"body"
        else:
            started = time.monotonic()
            next(steps)  # yields: the connection is parked at once
            assert time.monotonic() - started < 0.04
    finally:
        later.join()


def test_a_client_sending_a_byte_every_millisecond_cannot_keep_the_thread(pair):
    """Each byte lands within the 2 ms linger, so without a budget the pool
    thread would never park this connection."""
    ours, theirs = pair
    tx = transaction(ours, [], linger=0.002)
    stop = threading.Event()

    def drip() -> None:
        end = time.monotonic() + 1.0  # bounded: without the budget, next() waits this long
        while not stop.wait(0.001) and time.monotonic() < end:
            theirs.send(b"x")

    dripping = threading.Thread(target=drip)
    dripping.start()
    started = time.monotonic()
    try:
        steps = tx.run()
        next(steps)  # yields: parked, although bytes keep coming
    finally:
        stop.set()
        dripping.join()
    assert time.monotonic() - started < 0.2


def test_a_long_expected_wait_leaves_the_short_linger_for_the_next_message(pair):
    """Squid's body can take tens of ms after its heads; that wait must not use
    up the linger that catches the next message without a poller hand-off."""
    ours, theirs = pair
    reader = SocketReader(ours, Timeouts(), linger=0.01, trusted=True)
    reader.begin_message()
    reader.expect(1.0)
    first = threading.Timer(0.05, theirs.send, args=(b"body",))  # more than the budget
    first.start()
    with pytest.raises(StopIteration):
        next(reader.receive())
    first.join()
    second = threading.Timer(0.002, theirs.send, args=(b"next",))
    second.start()
    try:
        with pytest.raises(StopIteration) as got:
            next(reader.receive())  # caught by the linger: not parked
        assert got.value.value == b"next"
    finally:
        second.join()


def test_a_reload_while_the_connection_waits_applies_to_its_next_message(pair):
    """The policy is read when the message's heads are in, not when the
    connection starts waiting for them."""
    ours, theirs = pair
    holder = PolicyHolder(TestPolicy(generation="old"))
    sent: list[bytes] = []

    def send(data: bytes):
        sent.append(data)
        yield from ()

    steps = Transaction(SocketReader(ours, Timeouts(), linger=0), send, holder,
                        BlockPage.default(), ProtocolSettings()).run()
    assert next(steps) is None  # idle, waiting for the next message
    holder.swap(TestPolicy(generation="new"))
    theirs.send(b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    with pytest.raises(StopIteration):
        next(steps)
    assert b'ISTag: "if-new"' in sent[0]
