"""Learned mode without REQMOD, through a real Squid and a real Redis: the
helper decides URLs and answers `learned-clean`, `icapfilter serve` scans in
RESPMOD only. The squid.conf lines are squid.conf.example's two helper blocks,
with one change: negative_ttl=1 instead of 60, so a page learned clean is asked
about again within the test's time."""

from __future__ import annotations

import time

import pytest

from tests.icapserver import ServedLog, logged_methods, redis_with_lists, serving
from tests.squidserver import (
    Squid,
    error_directory,
    helper_command,
    helper_dir,
    helper_learned_lines,
    open_to_squid,
    page,
    write_lists,
)

pytestmark = [pytest.mark.integration, pytest.mark.squid, pytest.mark.redis]

NEGATIVE_TTL = 1


def until_squid_forgets_not_learned() -> None:
    """Squid keeps the helper's "not learned" answer for negative_ttl whole
    seconds, and nothing outside Squid shows when it lets go: the time passing
    is what the test relies on, so this one waits by the clock."""
    time.sleep(NEGATIVE_TTL + 1)


@pytest.fixture(scope="module")
def stack(origin):
    with helper_dir("icapfilter-learned-helper-") as root:
        bl, phrases = write_lists(root)
        errors = error_directory(root)
        log = root / "access.log"
        with redis_with_lists(bl) as redis:
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
block = ["adult", "gambling"]
naughtiness_limit = 50

[log]
access = "{log}"
format = "json"
""")
            open_to_squid(root)
            lines = helper_learned_lines(helper_command(), config)
            assert "negative_ttl=60" in lines
            extra = lines.replace("negative_ttl=60", f"negative_ttl={NEGATIVE_TTL}")
            with serving(config) as port, \
                    Squid(port, extra=extra, tail=f"error_directory {errors}\n") as squid:
                yield squid, origin, ServedLog(log, port)


def test_page_learned_clean_is_served_with_no_icap_transaction(stack):
    squid, origin, log = stack
    url = origin.url("www.example.test", "/page/30000")
    assert squid.get(url).body == page(30_000)
    assert logged_methods(log, url) == ["RESPMOD"]  # no REQMOD: the helper decided the URL
    until_squid_forgets_not_learned()
    for _ in range(3):
        got = squid.get(url)
        assert got.status == 200 and got.body == page(30_000)
    assert logged_methods(log, url) == ["RESPMOD"], "RESPMOD ran again for a page learned clean"


def test_page_with_a_banned_phrase_is_blocked_every_time(stack):
    squid, origin, log = stack
    url = origin.url("clean.example.test", "/bad/20000")
    assert squid.get(url).status == 403
    until_squid_forgets_not_learned()
    again = squid.get(url)
    assert again.status == 403 and b"banned phrase" in again.body
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
    until_squid_forgets_not_learned()
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
    assert got.status == 403 and b"banned phrase" in got.body
    assert logged_methods(log, url) == ["RESPMOD"]


def test_post_to_a_page_learned_clean_still_goes_through_respmod(stack):
    squid, origin, log = stack
    url = origin.url("www.example.test", "/page/31000")
    assert squid.get(url).status == 200
    until_squid_forgets_not_learned()
    assert squid.get(url).status == 200
    assert logged_methods(log, url) == ["RESPMOD"]  # learned clean: the GET skipped it
    assert squid.get(url, method="POST").status == 200
    assert logged_methods(log, url) == ["RESPMOD", "RESPMOD"]
