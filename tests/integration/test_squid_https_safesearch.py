"""SafeSearch over HTTPS needs ssl_bump: with the HTTPS block of
squid.conf.example, REQMOD sees the decrypted request and the origin receives
the search rewritten; with CONNECT only, the tunnel passes unread."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.icapserver import serving
from tests.integration.test_squid_https import curl, https_block, squid_has_openssl
from tests.squidserver import Squid
from tests.tlsfixtures import (
    HttpsOrigin,
    init_cert_db,
    issue,
    make_ca,
    start_https_origin,
    world_readable_dir,
)

pytestmark = [pytest.mark.integration, pytest.mark.squid]

HOSTS = ("www.google.com", "www.youtube.com")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[Squid, Squid, HttpsOrigin, object]]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    if not squid_has_openssl():
        pytest.skip("this Squid has no ssl_bump (Debian: install squid-openssl)")
    root = world_readable_dir("icapfilter-safesearch-tls-")
    bump_ca, origin_ca = make_ca(root, "bumpCA"), make_ca(root, "originCA")
    origin = start_https_origin(*issue(origin_ca, root, "origin", list(HOSTS)))
    config = tmp_path_factory.mktemp("https-safesearch") / "icapfilter.toml"
    config.write_text('[[groups]]\nname = "default"\nsafesearch = true\n')
    no_bump = root / "no-bump.txt"
    no_bump.write_text(".nobump.example.test\n")
    os.chmod(no_bump, 0o644)
    db = init_cert_db(root / "ssl_db")
    port_options, rules = https_block()

    def paths(text: str) -> str:
        return (text.replace("/etc/squid/icapfilter-ca.pem", str(bump_ca.bundle))
                .replace("/var/lib/squid/ssl_db", str(db))
                .replace("/etc/squid/icapfilter-no-bump.txt", str(no_bump)))

    tail = f"tls_outgoing_options cafile={origin_ca.cert}\n"
    try:
        with serving(config) as port, \
                Squid(port, extra=paths(rules), tail=tail, hosts=HOSTS,
                      port_options=paths(port_options)) as bumped, \
                Squid(port, tail=tail, hosts=HOSTS) as plain:
            yield bumped, plain, origin, (bump_ca, origin_ca)
    finally:
        origin.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_bumped_https_search_reaches_the_origin_rewritten(stack):
    bumped, _, origin, (bump_ca, _) = stack
    got = curl(bumped.port, origin.url("www.google.com", "/search?q=cats&safe=off"),
               bump_ca.cert)
    assert got.status == 200, got
    assert any(r.startswith("www.google.com") and r.endswith("/search?q=cats&safe=active")
               for r in origin.requests), origin.requests


def test_without_bump_the_tunnel_is_not_rewritten(stack):
    _, plain, origin, (_, origin_ca) = stack
    got = curl(plain.port, origin.url("www.google.com", "/search?q=dogs&safe=off"),
               origin_ca.cert)
    assert got.status == 200, got
    assert any(r.endswith("/search?q=dogs&safe=off") for r in origin.requests)
