"""The decision hook between the ICAP server and the filter engines.

The server hands over plain values (who asked, which URL, which response
head, body bytes as they arrive) and gets a :class:`Verdict` back. It knows
nothing of lists; the engines know nothing of ICAP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..icap.messages import Headers
from ..verdict import Verdict


@dataclass(frozen=True, slots=True)
class Client:
    ip: str | None = None
    user: str | None = None
    # The filter group Squid named (adaptation_meta X-Icapfilter-Group): an
    # ICAP header, which only Squid sets (policy/groups.py decides its rank).
    group: str | None = None


@dataclass(frozen=True, slots=True)
class RequestInfo:
    client: Client
    method: str
    url: str
    headers: Headers
    # The TLS server name (SNI) Squid peeked at, for a CONNECT: Squid 5 sends
    # it only as an ICAP header (adaptation_meta X-Icapfilter-SNI "%ssl::>sni"),
    # never in the CONNECT it builds after peeking, which names what the
    # client's CONNECT named (often an IP). None when unknown.
    sni: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseInfo:
    status: int
    headers: Headers

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    @property
    def content_encoding(self) -> str | None:
        return self.headers.get("Content-Encoding")


class ResponseScan(Protocol):
    """Scans one response body as it streams in; one instance per response."""

    @property
    def certain(self) -> bool:
        """True once more body bytes can no longer change the verdict."""

    def feed(self, data: bytes) -> None: ...

    def provisional(self) -> Verdict:
        """The verdict on the bytes fed so far; the scan goes on."""

    def finish(self) -> Verdict: ...


class Policy(Protocol):
    @property
    def generation(self) -> str:
        """Changes whenever lists or rules change; the ICAP ISTag is derived from it."""

    def decide_request(self, request: RequestInfo) -> Verdict: ...

    def begin_response(
        self, request: RequestInfo, response: ResponseInfo
    ) -> Verdict | ResponseScan:
        """A verdict when the head suffices (e.g. an image), else a body scan."""

    def learned_page(self, request: RequestInfo) -> Verdict | None:
        """The verdict learned for the page at this URL (learned mode), or None
        when there is none: lets Squid skip RESPMOD for pages already scanned."""


class AllowAll:
    """The policy with nothing loaded: blocks nothing, scans nothing."""

    generation = "empty"

    def decide_request(self, request: RequestInfo) -> Verdict:
        return Verdict.allow("no lists loaded")

    def begin_response(self, request: RequestInfo, response: ResponseInfo) -> Verdict:
        return Verdict.allow("no phrase lists loaded")

    def learned_page(self, request: RequestInfo) -> Verdict | None:
        return None


class PolicyHolder:
    """One swappable reference: a reload builds a new policy and swaps it in.

    Transactions read :attr:`current` once at their start, so a reload never
    changes the rules in the middle of a message.
    """

    def __init__(self, policy: Policy) -> None:
        self.current: Policy = policy

    def swap(self, policy: Policy) -> None:
        self.current = policy
