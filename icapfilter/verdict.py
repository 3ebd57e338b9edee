"""A decision is a value: what to do with one request or response, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Action(Enum):
    ALLOW = "allow"
    BLOCK = "block"
    #: allowed with the request changed (SafeSearch): the ICAP answer is the
    #: modified request
    REWRITE = "rewrite"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: str = ""
    category: str | None = None
    status: int = 403
    group: str = "default"
    entry: str | None = None
    score: int | None = None
    phrases: tuple[str, ...] = field(default_factory=tuple)
    bytes_scanned: int = 0
    # Headers the adapted HTTP request must carry (REQMOD), and header names it
    # must not carry. They let Squid's ACLs act on the decision: a request whose
    # URL was learned clean is marked so Squid skips RESPMOD for it.
    set_request_headers: tuple[tuple[str, str], ...] = ()
    drop_request_headers: tuple[str, ...] = ()
    # The query string the adapted request carries instead of its own (REQMOD,
    # SafeSearch); None keeps the request target as it came.
    rewrite_query: str | None = None
    # The group's naughtiness limit a phrase scan was judged by (block page, detail = "full").
    limit: int | None = None

    @property
    def blocked(self) -> bool:
        return self.action is Action.BLOCK

    @classmethod
    def allow(cls, reason: str = "", **details: object) -> Verdict:
        return cls(Action.ALLOW, reason, **details)  # type: ignore[arg-type]

    @classmethod
    def block(cls, reason: str, category: str | None = None, **details: object) -> Verdict:
        return cls(Action.BLOCK, reason, category, **details)  # type: ignore[arg-type]
