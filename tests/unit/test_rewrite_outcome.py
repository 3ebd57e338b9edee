"""A rewritten request (SafeSearch) is its own outcome: the access log says
``rewrite`` (statistics label it by the same action value), and it is not a block."""

from __future__ import annotations

import json
from dataclasses import replace

from icapfilter.accesslog import AccessLog
from icapfilter.outcome import Outcome
from icapfilter.policy import Client
from icapfilter.verdict import Action, Verdict

REWRITE = replace(Verdict.allow("safesearch: google"), action=Action.REWRITE,
                  rewrite_query="q=a&safe=active")


def outcome(verdict: Verdict) -> Outcome:
    return Outcome(service="reqmod", method="REQMOD", url="http://www.google.com/search?q=a",
                   client=Client("10.0.0.1"), status=200, verdict=verdict)


def test_a_rewrite_is_neither_a_block_nor_a_plain_allow():
    assert not REWRITE.blocked
    assert outcome(REWRITE).rewritten
    assert not outcome(Verdict.allow()).rewritten and not outcome(None).rewritten  # type: ignore[arg-type]


def test_the_access_log_says_rewrite(tmp_path):
    log = AccessLog(str(tmp_path / "access.log"))
    record = json.loads(log.format_line(outcome(REWRITE), ("127.0.0.1", 1), None, 1.0))
    assert record["verdict"] == "rewrite" and record["reason"] == "safesearch: google"

