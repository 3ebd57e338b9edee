"""The per-client request limit: 429 over it, counted per address or per user."""

from __future__ import annotations

import pytest

from icapfilter.config import GroupConfig
from icapfilter.icap.messages import Headers
from icapfilter.policy import Client, RequestInfo
from icapfilter.policy.failure import FailurePolicy
from icapfilter.policy.groups import Group
from icapfilter.policy.ratelimit import RequestLimit
from icapfilter.ratelimit import MemoryRateLimiter
from icapfilter.urls.errors import StoreUnavailable
from tests.policyfixtures import make_policy
from tests.unit.policy.conftest import GROUPS

GROUP = Group.from_config(GroupConfig())


def req(url: str, ip: str | None = None, user: str | None = None) -> RequestInfo:
    return RequestInfo(Client(ip, user), "GET", url, Headers())


def test_rate_limit_gives_429(store):
    p = make_policy(GROUPS, store, limiter=MemoryRateLimiter(3, 60))
    verdicts = [p.decide_request(req("http://fine.test/", ip="192.0.2.9")) for _ in range(5)]
    assert [v.blocked for v in verdicts] == [False, False, False, True, True]
    assert verdicts[-1].status == 429 and verdicts[-1].category == "rate-limit"
    assert not p.decide_request(req("http://fine.test/", ip="192.0.2.10")).blocked


def test_a_limit_per_user_counts_users_not_addresses():
    limit = RequestLimit(MemoryRateLimiter(1, 60), "user", FailurePolicy())
    assert limit.verdict(GROUP, Client("10.0.0.1", "bob")) is None
    assert limit.verdict(GROUP, Client("10.0.0.2", "bob")).status == 429
    assert limit.verdict(GROUP, Client("10.0.0.1", "eve")) is None
    # no user name: nothing to count
    assert limit.verdict(GROUP, Client("10.0.0.1", None)) is None
    assert limit.verdict(GROUP, Client("10.0.0.1", None)) is None


class DownLimiter:
    def hit(self, client_key: str) -> bool:
        raise StoreUnavailable("connection refused")


def test_a_limiter_that_cannot_count_lets_requests_through(caplog):
    limit = RequestLimit(DownLimiter(), "ip", FailurePolicy())
    assert limit.verdict(GROUP, Client("10.0.0.1")) is None
    assert limit.verdict(GROUP, Client("10.0.0.1")) is None
    assert [r.getMessage() for r in caplog.records] == [
        "rate limiter unavailable: connection refused"]


def test_an_unknown_per_is_refused():
    with pytest.raises(ValueError, match="per must be one of"):
        RequestLimit(MemoryRateLimiter(1, 60), "host", FailurePolicy())
