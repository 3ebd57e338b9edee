"""HTTPS through a real Squid built with OpenSSL (Debian's squid-openssl) and
`icapfilter serve`: CONNECT-only filtering with the plain example, then the
HTTPS block of squid.conf.example, uncommented with its paths and port
rewritten, once as written (peek, splice the no-bump list, bump the rest) and
once spliced only. The origin is a local HTTPS server whose certificate a
second test CA signed; clients trust either that CA (a tunnel they can read
only if Squid left it alone) or the bump CA (what a site installs)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.icapserver import logged_methods, serve_process
from tests.squidserver import ROOT, SQUID, Squid, page
from tests.tlsfixtures import (
    init_cert_db,
    issue,
    make_ca,
    start_https_origin,
    through_tunnel,
    world_readable_dir,
)

pytestmark = [pytest.mark.integration, pytest.mark.squid]

HTTPS_BLOCK = "# --- HTTPS: peek at the TLS server name, splice or bump"
IDN = "bücher.example.test"
IDN_ACE = "xn--bcher-kva.example.test"
EXTRA_HOSTS = ("nobump.example.test", "badbank.example.test", IDN_ACE)
ORIGIN_NAMES = ["www.example.test", "clean.example.test", "blocked.example.test",
                "sub.blocked.example.test", "ok.blocked.example.test", *EXTRA_HOSTS]
BLOCK_PAGE = b"Access to this page has been denied"


def https_block() -> tuple[str, str]:
    """The HTTPS block of squid.conf.example, uncommented: (the http_port
    line's options, the other lines)."""
    block = (ROOT / "squid.conf.example").read_text().split(HTTPS_BLOCK, 1)[1]
    block = block.split("\n# ---", 1)[0]
    lines = [ln[2:] for ln in block.splitlines() if re.match(
        r"# (http_port|sslcrtd_program|sslcrtd_children|adaptation_meta|acl|"
        r"adaptation_access|ssl_bump) ", ln)]
    port = [ln for ln in lines if ln.startswith("http_port 3128 ")]
    assert len(port) == 1, "the HTTPS block has one http_port 3128 line"
    return port[0].removeprefix("http_port 3128 "), "\n".join(
        ln for ln in lines if not ln.startswith("http_port "))


def squid_has_openssl() -> bool:
    try:
        version = subprocess.run([SQUID, "-v"], capture_output=True, timeout=30).stdout
    except OSError:
        return False
    return b"--with-openssl" in version and b"--enable-ssl-crtd" in version


@dataclass
class Curl:
    exit: int
    connect_status: int  # the proxy's answer to CONNECT (0: none)
    status: int  # the HTTP status inside the tunnel (0: none)
    body: bytes
    error: str


def curl(proxy_port: int, url: str, cafile: Path) -> Curl:
    """curl through the proxy, trusting only ``cafile``; curl turns an IDN into
    its punycode form before it sends the CONNECT, as browsers do."""
    done = subprocess.run(
        ["curl", "-q", "-sS", "--max-time", "15", "-x", f"http://127.0.0.1:{proxy_port}",
         "--cacert", str(cafile), "-o", "-", "-w", "\n%{http_connect} %{http_code}", url],
        capture_output=True, timeout=30,
        env={"PATH": os.environ.get("PATH", "/usr/bin"), "LC_ALL": "C.UTF-8"})  # UTF-8: IDN
    body, _, codes = done.stdout.rpartition(b"\n")
    connect, code = (int(c) for c in codes.split())
    return Curl(done.returncode, connect, code, body, done.stderr.decode(errors="replace"))


@pytest.fixture(scope="module")
def tls():
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    root = world_readable_dir("icapfilter-tls-")
    bump_ca, origin_ca = make_ca(root, "bumpCA"), make_ca(root, "originCA")
    cert, key = issue(origin_ca, root, "origin", ORIGIN_NAMES)
    origin = start_https_origin(cert, key)
    try:
        yield root, bump_ca, origin_ca, origin
    finally:
        origin.stop()
        if not os.environ.get("KEEP_SQUID"):
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def filter_port(tmp_path_factory):
    root = tmp_path_factory.mktemp("https-filter")
    bl = root / "bl"
    for category, domains, urls in [
        ("adult", ["blocked.example.test", IDN], ["www.example.test/forbidden"]),
        ("gambling", ["badbank.example.test"], []),
    ]:
        (bl / category).mkdir(parents=True)
        (bl / category / "domains").write_text("\n".join(domains) + "\n")
        (bl / category / "urls").write_text("\n".join(urls) + "\n")
    (bl / "whitelist").mkdir()
    (bl / "whitelist" / "exceptionsitelist").write_text("ok.blocked.example.test\n")
    (root / "bannedphraselist").write_text('#listcategory: "Banned words"\n<badword>\n')
    log = root / "access.json"
    config = root / "icapfilter.toml"
    config.write_text(f"""
[lists]
paths = ["{bl}"]

[phrases]
banned = ["{root / 'bannedphraselist'}"]

[[groups]]
name = "default"
block = ["adult", "gambling"]

[log]
access = "{log}"
format = "json"
""")
    proc, port = serve_process("--config", str(config))
    try:
        yield port, log
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def start_squid(icap_port: int, tls, name: str, *, rules: str | None,
                tail: str = "") -> Squid:
    """Squid from squid.conf.example; ``rules`` None keeps the example as it
    is (no HTTPS block), else the HTTPS block's lines as ``rules`` edited them."""
    root, bump_ca, origin_ca, _ = tls
    # As a site's Squid trusts the public CAs, the test's trusts the origin CA.
    tail = f"tls_outgoing_options cafile={origin_ca.cert}\n" + tail
    if rules is None:
        return Squid(icap_port, tail=tail, hosts=EXTRA_HOSTS)
    if not squid_has_openssl():
        pytest.skip("this Squid has no ssl_bump (Debian: install squid-openssl)")
    no_bump = root / f"{name}-no-bump.txt"
    no_bump.write_text(".nobump.example.test\n.badbank.example.test\n")
    os.chmod(no_bump, 0o644)
    db = init_cert_db(root / f"{name}-ssl_db")
    port_options, _ = https_block()

    def paths(text: str) -> str:
        return (text.replace("/etc/squid/icapfilter-ca.pem", str(bump_ca.bundle))
                .replace("/var/lib/squid/ssl_db", str(db))
                .replace("/etc/squid/icapfilter-no-bump.txt", str(no_bump)))

    return Squid(icap_port, extra=paths(rules), tail=tail, hosts=EXTRA_HOSTS,
                 port_options=paths(port_options))


@pytest.fixture(scope="module")
def plain(tls, filter_port):
    squid = start_squid(filter_port[0], tls, "plain", rules=None)
    yield squid
    squid.stop()


@pytest.fixture(scope="module")
def bumped(tls, filter_port):
    squid = start_squid(filter_port[0], tls, "bumped", rules=https_block()[1])
    yield squid
    squid.stop()


@pytest.fixture(scope="module")
def spliced(tls, filter_port):
    """The block changed as its comment says for sites that bump nothing."""
    rules = https_block()[1]
    assert "ssl_bump bump all" in rules and "adaptation_access icapfilter_req" in rules
    rules = "\n".join(ln for ln in rules.replace("ssl_bump bump all", "ssl_bump splice all")
                      .splitlines() if not ln.startswith("adaptation_access "))
    squid = start_squid(filter_port[0], tls, "spliced", rules=rules)
    yield squid
    squid.stop()


# -- CONNECT only: the example without its HTTPS block -----------------------------

@pytest.mark.parametrize("host", ["blocked.example.test", "sub.blocked.example.test", IDN])
def test_connect_only_refuses_a_listed_domain_its_subdomains_and_idn(plain, tls, host):
    _, _, origin_ca, origin = tls
    got = curl(plain.port, origin.url(host, "/page/100"), origin_ca.cert)
    assert got.connect_status == 403 and got.status == 0, got


@pytest.mark.parametrize("host", ["www.example.test", "ok.blocked.example.test"])
def test_connect_only_tunnels_an_allowed_site_untouched(plain, tls, host):
    _, _, origin_ca, origin = tls
    got = curl(plain.port, origin.url(host, "/page/70000"), origin_ca.cert)
    # Verified against the origin's own CA: Squid did not decrypt it.
    assert (got.exit, got.connect_status, got.status) == (0, 200, 200), got
    assert got.body == page(70_000)


def test_connect_only_cannot_see_paths_or_phrases(plain, tls):
    """What the docs say CONNECT-only filtering gives up: a listed URL path and a
    banned phrase pass, because Squid never sees inside the tunnel."""
    _, _, origin_ca, origin = tls
    assert curl(plain.port, origin.url("www.example.test", "/forbidden/page/10"),
                origin_ca.cert).status == 200
    assert curl(plain.port, origin.url("www.example.test", "/bad/3000"),
                origin_ca.cert).status == 200


# -- peek and splice only ------------------------------------------------------------

def test_spliced_connection_keeps_the_origin_certificate(spliced, tls):
    _, _, origin_ca, origin = tls
    got = through_tunnel(spliced.port, f"www.example.test:{origin.port}", "www.example.test",
                         "/page/5000", origin_ca.cert)
    assert (got.connect_status, got.status, got.issuer) == (200, 200,
                                                            "icapfilter test originCA"), got
    assert got.body == page(5000)


def test_spliced_connect_to_a_listed_host_is_refused(spliced, tls):
    _, _, origin_ca, origin = tls
    assert curl(spliced.port, origin.url("blocked.example.test", "/"),
                origin_ca.cert).connect_status == 403


def test_spliced_connect_to_an_ip_with_an_allowed_sni_tunnels(spliced, tls):
    _, _, origin_ca, origin = tls
    got = through_tunnel(spliced.port, f"127.0.0.1:{origin.port}", "www.example.test",
                         "/page/100", origin_ca.cert)
    assert (got.connect_status, got.status) == (200, 200), got


def test_spliced_connect_to_an_ip_with_a_listed_sni_is_refused(spliced, tls):
    _, _, origin_ca, origin = tls
    got = through_tunnel(spliced.port, f"127.0.0.1:{origin.port}", "blocked.example.test",
                         "/page/100", origin_ca.cert)
    # Squid answers the refusal in clear text into the TLS handshake: the
    # client gets a handshake failure, never the page.
    assert got.status is None and got.handshake_error, got


# -- bumped: the HTTPS block as written --------------------------------------------------

def test_blocked_https_site_shows_the_block_page(bumped, tls):
    _, bump_ca, _, origin = tls
    before = origin.handshakes.count("blocked.example.test")
    served = len(origin.requests)
    got = curl(bumped.port, origin.url("blocked.example.test", "/"), bump_ca.cert)
    assert (got.connect_status, got.status) == (200, 403), got
    assert BLOCK_PAGE in got.body and b"adult" in got.body
    # Bumping everything, Squid met the blocked site's server (to copy its
    # certificate) but sent it no request: docs/https.md says so.
    assert origin.handshakes.count("blocked.example.test") > before
    assert len(origin.requests) == served


@pytest.mark.parametrize("host", ["sub.blocked.example.test", IDN])
def test_bumped_subdomain_and_idn_show_the_block_page(bumped, tls, host):
    _, bump_ca, _, origin = tls
    got = curl(bumped.port, origin.url(host, "/page/10"), bump_ca.cert)
    assert got.status == 403 and BLOCK_PAGE in got.body, got


def test_bumped_listed_path_is_blocked_and_the_rest_of_the_site_is_not(bumped, tls):
    _, bump_ca, _, origin = tls
    got = curl(bumped.port, origin.url("www.example.test", "/forbidden/page/10"), bump_ca.cert)
    assert got.status == 403 and BLOCK_PAGE in got.body
    assert curl(bumped.port, origin.url("www.example.test", "/page/10"),
                bump_ca.cert).status == 200


def test_https_page_with_a_banned_phrase_is_blocked(bumped, tls):
    _, bump_ca, _, origin = tls
    got = curl(bumped.port, origin.url("www.example.test", "/bad/30000"), bump_ca.cert)
    assert got.status == 403 and BLOCK_PAGE in got.body and b"banned phrase" in got.body


@pytest.mark.parametrize("size", [1000, 200_000])
def test_clean_https_page_arrives_byte_for_byte(bumped, tls, size):
    _, bump_ca, _, origin = tls
    got = curl(bumped.port, origin.url("clean.example.test", f"/page/{size}"), bump_ca.cert)
    assert (got.exit, got.status) == (0, 200), got
    assert got.body == page(size)


def test_bumped_requests_and_responses_pass_reqmod_and_respmod(bumped, tls, filter_port):
    _, bump_ca, _, origin = tls
    url = origin.url("www.example.test", "/page/2345")
    assert curl(bumped.port, url, bump_ca.cert).status == 200
    assert logged_methods(filter_port[1], url) == ["REQMOD", "RESPMOD"]


def test_bumped_connect_to_an_ip_with_a_listed_sni_shows_the_block_page(bumped, tls):
    _, bump_ca, _, origin = tls
    got = through_tunnel(bumped.port, f"127.0.0.1:{origin.port}", "blocked.example.test", "/",
                         bump_ca.cert)
    assert got.issuer == "icapfilter test bumpCA", got
    assert got.status == 403 and BLOCK_PAGE in got.body


def test_no_bump_site_is_spliced(bumped, tls):
    _, _, origin_ca, origin = tls
    got = curl(bumped.port, origin.url("nobump.example.test", "/page/3000"), origin_ca.cert)
    # Only the origin's CA is trusted: the page arrives only through a splice.
    assert (got.exit, got.connect_status, got.status) == (0, 200, 200), got
    assert got.body == page(3000)


def test_no_bump_site_on_a_blocklist_is_refused_by_host(bumped, tls):
    _, bump_ca, origin_ca, origin = tls
    for cafile in (origin_ca.cert, bump_ca.cert):
        got = curl(bumped.port, origin.url("badbank.example.test", "/"), cafile)
        assert got.connect_status == 403 and got.status == 0, got


def test_connect_to_an_ip_with_the_sni_of_a_listed_no_bump_site_is_refused(bumped, tls):
    """The no-bump list is matched by SNI, so this connection is spliced, not
    bumped: only the SNI can refuse it."""
    _, _, origin_ca, origin = tls
    got = through_tunnel(bumped.port, f"127.0.0.1:{origin.port}", "badbank.example.test",
                         "/page/100", origin_ca.cert)
    assert got.status is None and got.handshake_error, got


# -- bump only what is denied: the squid-helper decides in http_access -------------------

@pytest.fixture(scope="module")
def bump_to_deny(tls):
    """The HTTPS block spliced only, plus the squid-helper block: Squid bumps a
    CONNECT its http_access denies, to show the helper's error page, and
    splices the rest (docs/https.md)."""
    from tests.squidserver import error_directory, helper_command, helper_lines

    root = tls[0] / "helper"
    bl = root / "bl"
    (bl / "adult").mkdir(parents=True)
    (bl / "adult" / "domains").write_text("blocked.example.test\n")
    config = root / "icapfilter.toml"
    config.write_text(f'[lists]\npaths = ["{bl}"]\n\n[[groups]]\nname = "default"\n'
                      'block = ["adult"]\n')
    errors = error_directory(root)
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    rules = "\n".join(ln for ln in https_block()[1].replace("ssl_bump bump all",
                                                            "ssl_bump splice all").splitlines()
                      if not ln.startswith("adaptation_access "))
    rules = helper_lines(helper_command(), config) + "\n" + rules
    squid = start_squid(1, tls, "deny", rules=rules,
                        tail=f"icap_enable off\nerror_directory {errors}\n")
    yield squid
    squid.stop()


def test_bump_to_deny_shows_the_helper_block_page_over_https(bump_to_deny, tls):
    _, bump_ca, _, origin = tls
    got = curl(bump_to_deny.port, origin.url("blocked.example.test", "/page/10"), bump_ca.cert)
    assert (got.connect_status, got.status) == (200, 403), got
    assert b"Blocked by the web filter" in got.body and b"listed in adult" in got.body


def test_bump_to_deny_never_contacts_the_denied_site(bump_to_deny, tls):
    _, bump_ca, _, origin = tls
    before = origin.handshakes.count("sub.blocked.example.test")
    got = curl(bump_to_deny.port, origin.url("sub.blocked.example.test", "/"), bump_ca.cert)
    assert got.status == 403
    assert origin.handshakes.count("sub.blocked.example.test") == before


def test_bump_to_deny_splices_an_allowed_site(bump_to_deny, tls):
    _, _, origin_ca, origin = tls
    got = curl(bump_to_deny.port, origin.url("www.example.test", "/page/4000"), origin_ca.cert)
    assert (got.exit, got.status) == (0, 200), got
    assert got.body == page(4000)
