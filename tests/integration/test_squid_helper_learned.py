"""Learned mode without REQMOD, through a real Squid and a real Redis: the
helper decides URLs and answers `learned-clean`, `icapfilter serve` scans in
RESPMOD only. The squid.conf lines are squid.conf.example's two helper blocks,
with one change: negative_ttl=2 instead of 60, so a page learned clean is asked
about again within the test's time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.icapserver import logged_methods, serve_process
from tests.integration.test_squid_filtering import write_lists
from tests.squidserver import (
    Squid,
    error_directory,
    helper_command,
    helper_learned_lines,
    page,
    start_origin,
)

pytestmark = [pytest.mark.integration, pytest.mark.squid, pytest.mark.redis]

NEGATIVE_TTL = 2


@pytest.fixture(scope="module")
def stack():
    from tests.redisserver import RedisServer, redis_available

    if not redis_available():
        pytest.skip("redis-server is not installed (the test command installs it)")
    # Squid runs the helper as its unprivileged user: everything it reads must
    # be world-readable (pytest's own temporary folders are not).
    root = Path(tempfile.mkdtemp(prefix="icapfilter-learned-helper-", dir="/tmp"))
    bl, phrases = write_lists(root)
    errors = error_directory(root)
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    redis = RedisServer().start()
    subprocess.run([sys.executable, "-m", "icapfilter", "lists", "load", "--redis", redis.url,
                    str(bl)], check=True, capture_output=True, timeout=60)
    log = root / "access.log"
    config = root / "icapfilter.toml"
    config.write_text(f"""
[store]
redis = "{redis.url}"

[phrases]
dir = "{phrases}"

[learned]
ttl = 600

[[groups]]
name = "default"
block = ["adult", "gambling", "Banned words"]
naughtiness_limit = 50

[log]
access = "{log}"
format = "json"
""")
    os.chmod(config, 0o644)
    proc, port = serve_process("--config", str(config))
    lines = helper_learned_lines(helper_command(), config)
    assert "negative_ttl=60" in lines
    origin = start_origin()
    squid = Squid(port, extra=lines.replace("negative_ttl=60", f"negative_ttl={NEGATIVE_TTL}"),
                  tail=f"error_directory {errors}\n")
    try:
        yield squid, origin, log
    finally:
        squid.stop()
        origin.server.shutdown()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_page_learned_clean_is_served_with_no_icap_transaction(stack):
    squid, origin, log = stack
    url = origin.url("www.example.test", "/page/30000")
    assert squid.get(url).body == page(30_000)
    assert logged_methods(log, url) == ["RESPMOD"]  # no REQMOD: the helper decided the URL
    time.sleep(NEGATIVE_TTL + 1)  # Squid's cached "not learned" expires
    for _ in range(3):
        got = squid.get(url)
        assert got.status == 200 and got.body == page(30_000)
    assert logged_methods(log, url) == ["RESPMOD"], "RESPMOD ran again for a page learned clean"


def test_page_with_a_banned_phrase_is_blocked_every_time(stack):
    squid, origin, log = stack
    url = origin.url("clean.example.test", "/bad/20000")
    assert squid.get(url).status == 403
    time.sleep(NEGATIVE_TTL + 1)
    again = squid.get(url)
    assert again.status == 403 and b"badword" in again.body
    # learned blocked is not learned clean: RESPMOD answers it from the cache
    assert logged_methods(log, url) == ["RESPMOD", "RESPMOD"]


def test_listed_domain_is_blocked_by_the_helper_without_icap(stack):
    squid, origin, log = stack
    url = origin.url("blocked.example.test", "/page/100")
    got = squid.get(url)
    assert got.status == 403 and b"listed in adult" in got.body
    assert logged_methods(log, url) == []


def test_gzip_page_is_scanned_once_then_passes_untouched(stack):
    squid, origin, log = stack
    url = origin.url("www.example.test", "/gzip/40000")
    first = squid.get(url)
    assert first.status == 200
    time.sleep(NEGATIVE_TTL + 1)
    assert squid.get(url).body == first.body
    assert logged_methods(log, url) == ["RESPMOD"]


def test_helper_stays_up(stack):
    squid, _, _ = stack
    text = (squid.workdir / "cache.log").read_text(errors="replace")
    assert "exited" not in text and "ERROR: helper" not in text, text[-2000:]


def test_forged_learned_header_does_not_skip_the_scan(stack):
    # without REQMOD nothing strips the header: the example's rules must not trust it
    squid, origin, log = stack
    url = origin.url("clean.example.test", "/bad/25000")
    got = squid.get(url, headers={"X-Icapfilter-Learned": "clean"})
    assert got.status == 403 and b"badword" in got.body
    assert logged_methods(log, url) == ["RESPMOD"]


def test_post_to_a_page_learned_clean_still_goes_through_respmod(stack):
    squid, origin, log = stack
    url = origin.url("www.example.test", "/page/31000")
    assert squid.get(url).status == 200
    time.sleep(NEGATIVE_TTL + 1)
    assert squid.get(url).status == 200
    assert logged_methods(log, url) == ["RESPMOD"]  # learned clean: the GET skipped it
    assert squid.get(url, method="POST").status == 200
    assert logged_methods(log, url) == ["RESPMOD", "RESPMOD"]
