"""`icapfilter squid-helper` as Squid's external ACL helper, through a real Squid:
the commented block of squid.conf.example, uncommented, with ICAP switched off."""

from __future__ import annotations

import pytest

from tests.squidserver import (
    Squid,
    error_directory,
    helper_command,
    helper_dir,
    helper_lines,
    open_to_squid,
    page,
    write_lists,
)

pytestmark = [pytest.mark.integration, pytest.mark.squid]


@pytest.fixture(scope="module")
def stack(origin):
    with helper_dir("icapfilter-helper-") as root:
        bl, _ = write_lists(root)
        config = root / "icapfilter.toml"
        config.write_text(f"""
[lists]
paths = ["{bl}"]

[[groups]]
name = "default"
block = ["adult", "gambling"]
""")
        errors = error_directory(root)
        open_to_squid(root)
        lines = helper_lines(helper_command(), config)
        with Squid(1, extra=lines, tail=f"icap_enable off\nerror_directory {errors}\n") as squid:
            yield squid, origin


def test_the_example_block_is_what_squid_runs(stack):
    squid, _ = stack
    conf = squid.conf.read_text()
    assert "external_acl_type icapfilter_urls ttl=60" in conf
    assert conf.index("http_access deny icapfilter_blocked") < conf.index(
        "http_access allow localhost")


def test_listed_domain_gets_the_block_page_with_the_reason(stack):
    squid, origin = stack
    got = squid.get(origin.url("sub.blocked.example.test", "/page/100"))
    assert got.status == 403
    assert b"Blocked by the web filter" in got.body
    assert b"<b>Reason:</b> listed in adult" in got.body


def test_listed_url_is_blocked_and_the_rest_of_its_site_is_not(stack):
    squid, origin = stack
    assert squid.get(origin.url("clean.example.test", "/forbidden/page/10")).status == 403
    got = squid.get(origin.url("clean.example.test", "/page/100"))
    assert got.status == 200 and got.body == page(100)


def test_clean_page_passes_byte_for_byte(stack):
    squid, origin = stack
    got = squid.get(origin.url("www.example.test", "/page/70000"))
    assert got.status == 200 and got.body == page(70_000)
    assert got.headers.get("x-origin-test") == "page-70000"


def test_exception_site_inside_a_blocked_domain_passes(stack):
    squid, origin = stack
    got = squid.get(origin.url("ok.blocked.example.test", "/page/100"))
    assert got.status == 200 and got.body == page(100)


def test_phrases_are_not_scanned(stack):
    squid, origin = stack
    assert squid.get(origin.url("www.example.test", "/bad/3000")).status == 200


def test_many_lookups_and_the_helper_stays_up(stack):
    squid, origin = stack
    for i in range(30):
        host = "blocked.example.test" if i % 3 == 0 else "www.example.test"
        got = squid.get(origin.url(host, f"/page/{100 + i}"))
        assert got.status == (403 if i % 3 == 0 else 200)
    log = (squid.workdir / "cache.log").read_text(errors="replace")
    assert "exited" not in log and "ERROR: helper" not in log, log[-2000:]
