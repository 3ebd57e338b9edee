"""Squid fails over between two icapfilter servers (issue 7, load and failover).

Squid is configured as ``squid.conf.example`` advises for a hot standby: its
commented ``adaptation_service_set`` block, uncommented, with the two services
pointing at two in-process icapfilter servers. While clients fetch pages in a
loop through Squid, the first server is stopped the way SIGTERM stops it
(``shutdown`` then ``drain_and_close``: transactions in progress finish, idle
persistent connections are closed). Every fetch must still return 200 with
the origin's body: Squid retries a message it has not started adapting on the
next service of the set.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.icapserver import TestPolicy, running_server
from tests.polling import wait_until
from tests.squidserver import Origin, Squid, page, squid_config

pytestmark = [pytest.mark.integration, pytest.mark.squid, pytest.mark.timeout(120)]

CLIENTS = 4
ENOUGH = 21
"""Fetches to see before the stop, and again from a second after it."""


def failover_config(http_port: int, first: int, second: int, workdir: Path) -> str:
    """squid.conf.example with its two-server block turned on, ports rewritten."""
    text = squid_config(http_port, first, workdir)
    # every rule naming a single service goes: with the learned-mode rule for
    # icapfilter_resp left beside the set holding it, Squid 5.7 answered HTTP
    # 500 to every request in this test
    text = re.sub(r"^adaptation_access icapfilter_(req|resp) .*\n", "", text, flags=re.M)
    block = text.index("# --- Two filter servers")
    end = text.index("\n# ---", block + 1)  # only this block's commented lines
    head, tail, rest = text[:block], text[block:end], text[end:]
    tail = re.sub(r"^# ((icap_service|adaptation_service_set|adaptation_access) .*)$", r"\1",
                  tail, flags=re.M)
    tail = tail.replace("icap://192.0.2.2:1344/", f"icap://127.0.0.1:{second}/")
    assert "adaptation_service_set filter_req icapfilter_req icapfilter_req2" in tail
    return head + tail + rest


class FailoverSquid(Squid):
    """The test Squid of tests/squidserver.py, started with the failover configuration."""

    def __init__(self, first: int, second: int) -> None:
        self.second = second
        super().__init__(first)

    def configuration(self) -> str:
        return failover_config(self.port, self.icap_port, self.second, self.workdir)


def test_stopping_one_of_two_servers_mid_traffic_loses_no_request(origin: Origin) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(running_server(TestPolicy(), threads=8))
        second = stack.enter_context(running_server(TestPolicy(), threads=8))
        squid = FailoverSquid(first.server_address[1], second.server_address[1])
        stack.callback(squid.stop)
        results: list[tuple[float, str, str]] = []  # (time, url, outcome)
        stop = threading.Event()

        def fetch_loop(seed: int) -> None:
            n = seed
            while not stop.is_set():
                size = 500 + (n * 37) % 3000
                url = origin.url("www.example.test", f"/page/{size}?n={n}")
                try:
                    got = squid.get(url, timeout=15)
                    ok = got.status == 200 and got.body == page(size)
                    outcome = "ok" if ok else f"status {got.status}, {len(got.body)} bytes"
                except OSError as exc:
                    outcome = f"error {exc!r}"
                results.append((time.monotonic(), url, outcome))
                n += CLIENTS

        clients = [threading.Thread(target=fetch_loop, args=(i,)) for i in range(CLIENTS)]
        for thread in clients:
            thread.start()
        try:
            # traffic flows, over connections to the first server that Squid keeps
            wait_until(lambda: len(results) >= ENOUGH, timeout=20)
            stopped_at = time.monotonic()
            first.shutdown()
            first.drain_and_close(5.0)
            wait_until(lambda: sum(r[0] >= stopped_at + 1.0 for r in results) >= ENOUGH,
                       timeout=20)
        finally:
            stop.set()
            for thread in clients:
                thread.join(timeout=20)
        cache_log = squid.log()

    before = [r for r in results if r[0] < stopped_at]
    after = [r for r in results if r[0] >= stopped_at + 1.0]
    failed = [r for r in results if r[2] != "ok"]
    assert not failed, (Counter(r[2] for r in failed), failed[:5], cache_log[-1500:])
    assert len(before) >= ENOUGH and len(after) >= ENOUGH, (len(before), len(after))
