"""File types against e2guardian 5.3.5 (Debian 12) as the oracle: with the same
`bannedextensionlist` and `bannedmimetypelist`, every request and response
e2guardian blocks, icapfilter blocks too, but for the one documented
difference (an extension at the end of the query string); and the spellings
e2guardian lets through (docs/lists.md, "File-type lists") are blocked here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from icapfilter.config import GroupConfig
from icapfilter.icap.messages import Headers
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.verdict import Verdict
from tests.e2guardian_oracle import E2GuardianOracle, icap_exchange, installed
from tests.policyfixtures import make_policy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LISTS = {"bannedextensionlist": ".exe  # Program\n.msi\n",
         "bannedmimetypelist": "application/x-msdownload\n"}
MARK = b"E2G-ORACLE-BLOCK"


@pytest.fixture(scope="module")
def e2g() -> Iterator[E2GuardianOracle]:
    if not installed():
        pytest.skip("e2guardian is not installed (apt-get install e2guardian)")
    with E2GuardianOracle(lists=LISTS) as oracle:
        yield oracle


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    root = tmp_path_factory.mktemp("filetype-lists")
    for name, content in LISTS.items():
        (root / name).write_text(content)
    return make_policy([GroupConfig(name="default",
                                    filetype_lists=[str(root / n) for n in LISTS])])


def _reqmod(e2g: E2GuardianOracle, url: str) -> tuple[bool, str]:
    host = url.split("/")[2]
    http = f"GET {url} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    message = (f"REQMOD icap://127.0.0.1:{e2g.icap_port}/request ICAP/1.0\r\n"
               f"Host: 127.0.0.1\r\nAllow: 204\r\nX-Client-IP: 127.0.0.1\r\n"
               f"Encapsulated: req-hdr=0, null-body={len(http)}\r\n\r\n").encode() + http
    try:
        answer = icap_exchange(e2g.icap_port, message)
    except TimeoutError:
        # e2guardian 5.3.5 now and then leaves an answer's body unfinished
        # under load (seen once in a full run); ask it again on a new connection
        answer = icap_exchange(e2g.icap_port, message)
    return MARK in (answer.body or b""), answer.headers.get("x-icap-e2g", "")


def e2g_blocks_request(e2g: E2GuardianOracle, url: str) -> bool:
    return _reqmod(e2g, url)[0]


def e2g_blocks_response(e2g: E2GuardianOracle, headers: str) -> bool:
    url = "http://dl.example.test/get"
    blocked, mark = _reqmod(e2g, url)
    assert not blocked
    http = f"GET {url} HTTP/1.1\r\nHost: dl.example.test\r\n\r\n".encode()
    res = f"HTTP/1.1 200 OK\r\n{headers}Transfer-Encoding: chunked\r\n\r\n".encode()
    body = b"hello world " * 10
    message = (f"RESPMOD icap://127.0.0.1:{e2g.icap_port}/response ICAP/1.0\r\n"
               f"Host: 127.0.0.1\r\nAllow: 204\r\nX-Client-IP: 127.0.0.1\r\n"
               f"X-ICAP-E2G: {mark}\r\nEncapsulated: req-hdr=0, res-hdr={len(http)}, "
               f"res-body={len(http) + len(res)}\r\n\r\n").encode() + http + res \
        + b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)
    answer = icap_exchange(e2g.icap_port, message)
    return MARK in (answer.body or b"")


def we_block_request(policy, url: str) -> bool:  # type: ignore[no-untyped-def]
    return policy.decide_request(RequestInfo(Client("127.0.0.1"), "GET", url, Headers())).blocked


def we_block_response(policy, headers: str) -> bool:  # type: ignore[no-untyped-def]
    pairs = [tuple(line.split(": ", 1)) for line in headers.split("\r\n") if line]
    decision = policy.begin_response(RequestInfo(Client("127.0.0.1"), "GET",
                                                 "http://dl.example.test/get", Headers()),
                                     ResponseInfo(200, Headers.of(pairs)))
    if not isinstance(decision, Verdict):
        decision.feed(b"hello world " * 10)
        decision = decision.finish()
    return decision.blocked


# (URL, e2guardian blocks it, icapfilter blocks it)
REQUESTS = [
    ("http://dl.example.test/setup.exe", True, True),
    ("http://dl.example.test/SETUP.EXE", True, True),
    ("http://dl.example.test/tool.msi", True, True),
    ("http://dl.example.test/page.html", False, False),
    ("http://dl.example.test/setup.exe.", False, True),
    ("http://dl.example.test/setup%2Eexe", False, True),
    ("http://dl.example.test/setup.exe?x=1", False, True),
    ("http://dl.example.test/setup.exe;x=1", False, True),
    # the difference: e2guardian matches the end of the whole URL
    ("http://dl.example.test/dl.php?f=setup.exe", True, False),
    ("http://dl.example.test/search?q=setup.exe&x=1", False, False),
]

# (response headers, e2guardian blocks it, icapfilter blocks it)
RESPONSES = [
    ("Content-Type: application/x-msdownload\r\n", True, True),
    ("Content-Type: Application/X-MSDownload; charset=x\r\n", True, True),
    ("Content-Type: text/plain\r\n", False, False),
    ('Content-Type: text/plain\r\nContent-Disposition: attachment; filename="setup.exe"\r\n',
     True, True),
    ("Content-Type: text/plain\r\nContent-Disposition: attachment; filename*=UTF-8''setup.exe"
     "\r\n", True, True),
    ("Content-Type: application/x-dosexec\r\n", False, True),
    ('Content-Type: text/plain\r\nContent-Disposition: attachment; filename="SETUP.EXE"\r\n',
     False, True),
    ('Content-Type: text/plain\r\nContent-Disposition: attachment; filename="setup.exe."\r\n',
     False, True),
]


@pytest.mark.parametrize(("url", "e2g_blocks", "we_block"), REQUESTS)
def test_requests_against_e2guardian(e2g, policy, url, e2g_blocks, we_block):
    assert e2g_blocks_request(e2g, url) == e2g_blocks
    assert we_block_request(policy, url) == we_block


@pytest.mark.parametrize(("headers", "e2g_blocks", "we_block"), RESPONSES)
def test_responses_against_e2guardian(e2g, policy, headers, e2g_blocks, we_block):
    assert e2g_blocks_response(e2g, headers) == e2g_blocks
    assert we_block_response(policy, headers) == we_block
