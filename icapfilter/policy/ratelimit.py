"""The per-client request limit: over it, a client gets a 429 block page."""

from __future__ import annotations

from ..ratelimit import RateLimiter
from ..urls.errors import StoreUnavailable
from ..verdict import Verdict
from .failure import FailurePolicy
from .groups import Group
from .hook import Client

PER = ("ip", "user")


class RequestLimit:
    """Counts requests per client address or per user (``[ratelimit] per``).

    A limiter that cannot count (its store is down) lets the request through:
    the limit guards the filter's resources, not what clients may see.
    """

    def __init__(self, limiter: RateLimiter, per: str, failure: FailurePolicy) -> None:
        if per not in PER:
            raise ValueError(f"per must be one of {', '.join(PER)}; got {per!r}")
        self.limiter = limiter
        self.per = per
        self.failure = failure

    def verdict(self, group: Group, client: Client) -> Verdict | None:
        """A 429 block when the client is over its limit, else None."""
        key = client.user if self.per == "user" else client.ip
        if not key:
            return None
        try:
            within = self.limiter.hit(key)
        except StoreUnavailable as exc:
            self.failure.limiter_unavailable(exc)
            return None
        if within:
            return None
        return Verdict.block("too many requests: rate limit exceeded", "rate-limit",
                             group=group.name, status=429)
