"""Which responses are scanned, with which settings, and the verdict of a scan."""

from __future__ import annotations

import pytest

from icapfilter.config import GroupConfig
from icapfilter.content.sniffscan import SniffingScan
from icapfilter.icap.messages import Headers
from icapfilter.phrases import BodyScan, PhraseHit, ScanResult, load_phrase_set
from icapfilter.phrases.model import ListKind
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.policy.scanning import PageScanner, PhraseScan, verdict_of_scan
from icapfilter.scan_settings import ScanSettings
from icapfilter.verdict import Verdict
from tests.policyfixtures import make_policy


@pytest.fixture
def phrases(tmp_path):
    (tmp_path / "bannedphraselist").write_text("<badword>\n")
    phrase_set, errors = load_phrase_set([tmp_path / "bannedphraselist"])
    assert not errors
    return phrase_set


def response(content_type: str | None, status: int = 200) -> ResponseInfo:
    headers = [("Content-Type", content_type)] if content_type is not None else []
    return ResponseInfo(status, Headers.of(headers))


def req(url: str = "http://a.test/") -> RequestInfo:
    return RequestInfo(Client("10.0.0.1"), "GET", url, Headers())


@pytest.mark.parametrize("content_type,status,why", [
    ("text/html", 200, None),
    ("text/html; charset=utf-8", 200, None),
    ("image/png", 200, "content type not scanned"),
    ("text/css", 200, "content type not scanned"),
    (None, 200, None),                     # sniffed, as a browser would
    ("text/html", 304, "no body"),
    ("text/html", 204, "no body"),
    ("text/html", 101, "no body"),
])
def test_which_responses_are_scanned(phrases, content_type, status, why):
    assert PageScanner(phrases, ScanSettings()).unscanned(response(content_type, status)) == why


def test_the_configured_scan_types_decide(phrases):
    scanner = PageScanner(phrases, ScanSettings(scan_types=("text/*",)))
    assert scanner.unscanned(response("text/css")) is None
    assert scanner.unscanned(response("application/json")) == "content type not scanned"


def test_an_untyped_body_is_sniffed_and_a_typed_one_is_not(phrases):
    scanner = PageScanner(phrases, ScanSettings())
    assert isinstance(scanner.new_scan(50, None, None), SniffingScan)
    assert isinstance(scanner.new_scan(50, "text/html", "gzip"), BodyScan)


def test_the_settings_reach_the_scan(phrases):
    page = b"<p>" + b"x" * 2000 + b" badword</p>"
    for max_scan_bytes, blocked in ((100, False), (100_000, True)):
        scanner = PageScanner(phrases, ScanSettings(max_scan_bytes=max_scan_bytes))
        scan = scanner.new_scan(50, "text/html", None)
        scan.feed(page)
        assert scan.finish().blocked is blocked


def test_a_group_that_does_not_scan_gets_no_scan(phrases):
    policy = make_policy([GroupConfig(name="default", scan=False)], phrases=phrases)
    verdict = policy.begin_response(req(), response("text/html"))
    assert isinstance(verdict, Verdict) and verdict.reason == "not scanned"


def test_a_scanned_page_is_judged_for_the_clients_group(phrases):
    policy = make_policy([GroupConfig(name="kids")], phrases=phrases)
    scan = policy.begin_response(req(), response("text/html"))
    assert isinstance(scan, PhraseScan)
    scan.feed(b"<p>a badword</p>")
    verdict = scan.finish()
    assert verdict.blocked and verdict.group == "kids" and verdict.reason == "banned phrase"


def test_the_verdict_of_a_scan_names_at_most_30_phrases():
    hits = [PhraseHit(f"p{i}", 5, ListKind.WEIGHTED, 2, None) for i in range(40)]
    result = ScanResult(blocked=True, score=400, reason="weighted phrase limit exceeded",
                        category=None, phrases=hits, bytes_scanned=10, truncated=False)
    verdict = verdict_of_scan(result, "kids")
    assert verdict.blocked and verdict.category == "phrases" and len(verdict.phrases) == 30
    assert verdict.phrases[0] == "p0 (weighted +5 x2)" and verdict.bytes_scanned == 10
