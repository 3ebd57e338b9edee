"""The ICAP server under many connections at once (issue 7, load).

A thousand simultaneous connections within the cap are all served; a burst far
above the cap gets, for every connection, either an answer or a clean
``ICAP/1.0 503`` (so Squid bypasses or fails over), and the server survives it.
Neither leaks a file descriptor or a thread: descriptors are counted in this
process with the server running, before the storm and after every connection
closed; threads before the server starts and after it stopped, and while it
runs they are bounded by the pool size plus the server's fixed threads. (The
server closes its own selector and wake-up socketpair at shutdown too: the
last test checks that.)

The clients are one selector loop in the test thread (non-blocking sockets), so
the test itself adds no threads and opens exactly one descriptor per connection.
"""

from __future__ import annotations

import errno
import os
import resource
import selectors
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.icapserver import IcapClient, reqmod, running_server, with_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

THREADS = 8
FIXED_THREADS = 2
"""Threads a running server has besides its pool: serve_forever and the selector loop."""


@pytest.fixture(autouse=True)
def enough_descriptors() -> Iterator[None]:
    """Room for 2,000 client and 2,000 server sockets in this one process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < 4500:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low for this test")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle(measure, target: int, within: float = 5.0) -> int:  # type: ignore[no-untyped-def]
    """Pool threads and closed sockets go away asynchronously: wait for ``target``."""
    deadline = time.monotonic() + within
    value = measure()
    while value > target and time.monotonic() < deadline:
        time.sleep(0.05)
        value = measure()
    return value


def url_for(n: int) -> str:
    return f"http://blocked{n}.test/" if n % 10 == 0 else f"http://ok{n}.test/"


def storm(port: int, count: int, *, deadline: float = 60.0,
          peak_threads: list[int] | None = None) -> list[str]:
    """Open ``count`` connections at once, send one REQMOD on each, read each answer.

    Returns one outcome per connection: ``"204"`` (allowed), ``"200"`` (block page),
    ``"503"`` (over the cap) or ``"error: ..."`` (no answer: reset, closed, timeout).
    """
    selector = selectors.DefaultSelector()
    outcomes: list[str] = [""] * count
    buffers: dict[int, bytes] = {}
    for n in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(("127.0.0.1", port))
        if code not in (0, errno.EINPROGRESS):
            outcomes[n] = f"error: connect {errno.errorcode.get(code, code)}"
            sock.close()
            continue
        selector.register(sock, selectors.EVENT_WRITE, n)
    end = time.monotonic() + deadline
    while selector.get_map() and time.monotonic() < end:
        if peak_threads is not None:
            peak_threads.append(threading.active_count())
        for key, _ in selector.select(timeout=0.5):
            sock, n = key.fileobj, key.data
            assert isinstance(sock, socket.socket)
            done: str | None = None
            try:
                if n not in buffers:  # connected: send the request
                    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if error:
                        done = f"error: connect {errno.errorcode.get(error, error)}"
                    else:
                        sock.sendall(reqmod(url_for(n)))
                        buffers[n] = b""
                        selector.modify(sock, selectors.EVENT_READ, n)
                else:
                    data = sock.recv(65536)
                    buffers[n] += data
                    head = buffers[n]
                    if head.startswith(b"ICAP/1.0 ") and (
                            b"\r\n\r\n" in head and (not head.startswith(b"ICAP/1.0 200")
                                                     or head.endswith(b"0\r\n\r\n"))):
                        done = head[9:12].decode()
                    elif not data:
                        done = f"error: closed after {head[:40]!r}"
            except OSError as exc:
                done = f"error: {errno.errorcode.get(exc.errno or 0, exc)}"
            if done is not None:
                outcomes[n] = done
                selector.unregister(sock)
                sock.close()
    for key in list(selector.get_map().values()):
        outcomes[key.data] = "error: no answer in time"
        selector.unregister(key.fileobj)
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()
    return outcomes


def still_serves(port: int) -> bool:
    with IcapClient(port, timeout=5) as client:
        return client.transact(reqmod("http://after.test/")).status == 204


def test_a_thousand_simultaneous_connections_are_all_answered_without_leaks() -> None:
    threads = threading.active_count()
    peak: list[int] = []
    with running_server(settings=with_settings(max_connections=1200), threads=THREADS) as server:
        port = server.server_address[1]
        fds = open_fds()
        outcomes = storm(port, 1000, peak_threads=peak)
        assert still_serves(port)
        assert settle(lambda: server.manager.open_count, 0) == 0
        assert settle(open_fds, fds) <= fds  # other tests' sockets may close meanwhile
    counts = Counter(outcomes)
    assert counts == {"204": 900, "200": 100}, counts.most_common(5)
    assert max(peak) <= threads + THREADS + FIXED_THREADS
    assert settle(threading.active_count, threads) <= threads


def test_a_burst_far_above_the_cap_gets_answers_or_clean_503s_and_the_server_survives() -> None:
    threads = threading.active_count()
    peak: list[int] = []
    with running_server(settings=with_settings(max_connections=50), threads=4) as server:
        port = server.server_address[1]
        fds = open_fds()
        outcomes = storm(port, 2000, peak_threads=peak)
        rejected = server.manager.rejected
        assert still_serves(port)
        assert settle(lambda: server.manager.open_count, 0) == 0
        assert settle(open_fds, fds) <= fds  # other tests' sockets may close meanwhile
    counts = Counter(outcomes)
    errors = {k: v for k, v in counts.items() if k not in ("204", "200", "503")}
    assert not errors, errors
    assert counts["503"] == rejected > 0, counts
    assert counts["204"] + counts["200"] >= 50
    assert max(peak) <= threads + 4 + FIXED_THREADS
    assert settle(threading.active_count, threads) <= threads


def test_repeated_bursts_leave_no_descriptors_or_threads_behind() -> None:
    with running_server(settings=with_settings(max_connections=100), threads=4) as server:
        port = server.server_address[1]
        storm(port, 300)  # warm: pool threads exist, lazily created objects too
        fds, threads = settle(open_fds, 0, within=0.5), threading.active_count()
        for _ in range(3):
            outcomes = storm(port, 600)
            assert all(o in ("204", "200", "503") for o in outcomes), Counter(outcomes)
        assert still_serves(port)
        # Closed by the clients; the server forgets them on its next read (EOF).
        assert settle(lambda: server.manager.open_count, 0) == 0
        assert settle(open_fds, fds) <= fds
        assert threading.active_count() <= threads


def test_a_stopped_server_leaves_no_descriptors_behind() -> None:
    fds = open_fds()
    with running_server(settings=with_settings(max_connections=10), threads=2) as server:
        assert still_serves(server.server_address[1])
    assert settle(open_fds, fds) <= fds  # other tests' sockets may close meanwhile
