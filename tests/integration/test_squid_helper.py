"""`icapfilter squid-helper` as Squid's external ACL helper, through a real Squid:
the commented block of squid.conf.example, uncommented, with ICAP switched off."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.integration.test_squid_filtering import write_lists
from tests.squidserver import (
    Squid,
    error_directory,
    helper_command,
    helper_lines,
    page,
    start_origin,
)

pytestmark = [pytest.mark.integration, pytest.mark.squid]

@pytest.fixture(scope="module")
def stack():
    # Squid runs the helper as its unprivileged user: everything it reads must
    # be world-readable (pytest's own temporary folders are not).
    root = Path(tempfile.mkdtemp(prefix="icapfilter-helper-", dir="/tmp"))
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
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    lines = helper_lines(helper_command(), config)
    origin = start_origin()
    squid = Squid(1, extra=lines, tail=f"icap_enable off\nerror_directory {errors}\n")
    try:
        yield squid, origin
    finally:
        squid.stop()
        origin.server.shutdown()
        shutil.rmtree(root, ignore_errors=True)


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
