"""A transaction is a generator that yields instead of waiting for the client:
driven by hand here, over a socket pair, with no pool and no poller."""

from __future__ import annotations

import socket
import time

import pytest

from icapfilter.blockpage import BlockPage
from icapfilter.icap.errors import IcapProtocolError
from icapfilter.policy import PolicyHolder
from icapfilter.server.stream import MessageTooSlow, SocketReader, Timeouts
from icapfilter.server.transaction import ProtocolSettings, Transaction
from tests.icapserver import TestPolicy, http_response_head, reqmod, respmod_head


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


def transaction(sock: socket.socket, sent: list[bytes], timeouts: Timeouts | None = None):
    reader = SocketReader(sock, timeouts or Timeouts(), linger=0)
    return Transaction(reader, sent.append, PolicyHolder(TestPolicy()), BlockPage.default(),
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
    reader = SocketReader(ours, Timeouts(), linger=0)
    steps = reader.read_head(65536)
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
