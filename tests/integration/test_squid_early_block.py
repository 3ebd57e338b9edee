"""A RESPMOD block decided from the response head (URL listed, or the list store
down with on_error=block) for a page larger than Squid's body buffer.

Answered before the preview had been read, Squid 5.7 turned about 4 % of these
into HTTP 502 ERR_READ_ERROR instead of showing the block page (found by the
soak: one 502 per 10-minute run, on a listed host blocked by RESPMOD across a
list reload, and during the Redis outage). The server now reads the preview
(a few KB that Squid sends at once) before it answers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests import squidserver
from tests.icapserver import serving
from tests.squidserver import Squid

pytestmark = [pytest.mark.integration, pytest.mark.squid]

PAGE = 85_000  # over the 64 KB Squid reads ahead of the ICAP answer
FETCHES = 1500


def respmod_only(text: str) -> str:
    """Squid sends only RESPMOD, so the URL block happens at the response head."""
    return text.replace("adaptation_access icapfilter_req allow all",
                        "adaptation_access icapfilter_req deny all")


def test_head_block_of_a_large_page_is_always_the_block_page(tmp_path, monkeypatch, origin):
    (tmp_path / "bl" / "adult").mkdir(parents=True)
    (tmp_path / "bl" / "adult" / "domains").write_text("www.example.test\n")
    config = tmp_path / "icapfilter.toml"
    config.write_text(f'[lists]\npaths = ["{tmp_path / "bl"}"]\n\n'
                      '[[groups]]\nname = "default"\nblock = ["adult"]\n')
    real_config = squidserver.squid_config
    monkeypatch.setattr(squidserver, "squid_config", lambda *a: respmod_only(real_config(*a)))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + 120

    with serving(config) as port, Squid(port) as squid:
        def fetch(worker: int) -> None:
            for n in range(FETCHES // 8):
                if time.monotonic() > deadline:
                    return
                url = origin.url("www.example.test", f"/page/{PAGE}?w={worker}-{n}")
                try:
                    got = squid.get(url)
                    outcome = (f"{got.status} {got.headers.get('x-squid-error', '')}".strip()
                               if got.status != 403 or b"adult" not in got.body
                               else "block page")
                except OSError as exc:
                    outcome = type(exc).__name__
                with lock:
                    outcomes[outcome] += 1

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert outcomes["block page"] >= FETCHES // 2, outcomes
    assert set(outcomes) == {"block page"}, outcomes
