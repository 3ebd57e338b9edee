"""What happened to one ICAP message, as the access log and statistics see it.

The server fills it in; the recorders (accesslog, stats) read it. It lives
outside ``server/`` so the recorders, which the server calls, do not import
the server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .policy.hook import Client
from .verdict import Action, Verdict


@dataclass(slots=True)
class Outcome:
    service: str = "-"
    method: str = "-"
    url: str = "-"
    client: Client = field(default_factory=Client)
    status: int = 0
    verdict: Verdict | None = None
    late: bool = False
    body_bytes: int = 0
    started: float = 0.0
    # the HTTP side, for the Squid and e2guardian access-log formats
    http_method: str = "-"
    http_status: int = 0  # the origin's status (RESPMOD); 0 when not known
    content_type: str = ""  # the origin's Content-Type (RESPMOD)
    page_bytes: int = 0  # body bytes of the block page sent

    @property
    def rewritten(self) -> bool:
        """The request went on changed (SafeSearch), not blocked nor untouched."""
        return self.verdict is not None and self.verdict.action is Action.REWRITE

    @property
    def duration_ms(self) -> float:
        return (time.monotonic() - self.started) * 1e3 if self.started else 0.0
