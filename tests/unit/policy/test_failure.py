"""When the filter cannot judge: on_error for store faults and unparseable URLs,
always a block for a body that cannot be scanned; faults logged once a minute."""

from __future__ import annotations

import logging

import pytest

from icapfilter.config import GroupConfig
from icapfilter.content.decoding import DecodeRefused
from icapfilter.icap.messages import Headers
from icapfilter.phrases import load_phrase_set
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.policy.failure import (
    FailurePolicy,
    OnceLogger,
    scan_failed,
    store_down_verdict,
)
from icapfilter.policy.groups import Group
from icapfilter.policy.scanning import PhraseScan
from icapfilter.urls.memory_store import MemoryStore
from tests.policyfixtures import make_policy
from tests.unit.policy.conftest import GROUPS, DownStore

GROUP = Group.from_config(GroupConfig())
HTML = ResponseInfo(200, Headers.of([("Content-Type", "text/html")]))


def req(url: str) -> RequestInfo:
    return RequestInfo(Client(None, None), "GET", url, Headers())


@pytest.mark.parametrize("on_error,blocked", [("block", True), ("allow", False)])
def test_store_fault_applies_on_error(on_error, blocked, caplog):
    p = make_policy(GROUPS, DownStore(), on_error=on_error)
    for _ in range(5):
        verdict = p.decide_request(req("http://x.test/"))
        assert verdict.blocked is blocked
        assert "unavailable" in verdict.reason
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    assert p.gauges()["icapfilter_store_faults_total"] == 5
    assert p.generation  # the ISTag still renders


def test_failing_closed_answers_503():
    verdict = store_down_verdict("block", GROUP)
    assert verdict.blocked and verdict.status == 503 and verdict.category == "filter-unavailable"


def test_store_without_any_generation_counts_as_a_fault():
    verdict = make_policy(GROUPS, MemoryStore(), on_error="block").decide_request(
        req("http://anything.test/"))
    assert verdict.blocked and "unavailable" in verdict.reason


def test_failing_open_on_store_fault_still_scans_the_page(tmp_path):
    banned = tmp_path / "bannedphraselist"
    banned.write_text("<badword>\n")
    phrases, errors = load_phrase_set([banned])
    assert not errors
    p = make_policy(GROUPS, DownStore(), phrases=phrases, on_error="allow")
    scan = p.begin_response(req("http://x.test/"), HTML)
    assert isinstance(scan, PhraseScan)
    scan.feed(b"<p>a badword</p>")
    assert scan.finish().blocked
    assert not p.decide_request(req("http://x.test/")).blocked


def test_an_unknown_on_error_is_refused():
    with pytest.raises(ValueError, match="on_error"):
        FailurePolicy("ignore")


def test_a_refused_encoding_blocks_without_an_error_log(caplog):
    with caplog.at_level(logging.ERROR, logger="icapfilter.policy"):
        verdict = scan_failed(GROUP, DecodeRefused("dcb is not decoded"))
    assert verdict.blocked and verdict.category == "scan-error"
    assert verdict.reason == "scan error: dcb is not decoded"
    assert not caplog.records


def test_a_scanner_bug_blocks_and_is_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="icapfilter.policy"):
        verdict = scan_failed(GROUP, RecursionError("too deep"))
    assert verdict.blocked and "RecursionError: too deep" in verdict.reason
    assert verdict.group == "default"


def test_a_recurring_fault_is_logged_once_then_counted(caplog, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("icapfilter.policy.failure.time.monotonic", lambda: now[0])
    log = OnceLogger(interval=60)
    with caplog.at_level(logging.ERROR, logger="icapfilter.policy"):
        for _ in range(3):
            log("down")
        now[0] += 61
        log("down")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["down", "down (2 more since the last report)"]
