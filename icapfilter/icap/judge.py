"""The policy as one exchange sees it: protocols the server's adapter and the
tests satisfy, so the protocol layer imports nothing of the policy."""

from __future__ import annotations

from typing import Protocol, TypeGuard, TypeVar

from .messages import IcapRequest


class Decision(Protocol):
    """What the exchange reads of a verdict."""

    @property
    def blocked(self) -> bool: ...
    @property
    def category(self) -> str | None: ...
    @property
    def status(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def set_request_headers(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def drop_request_headers(self) -> tuple[str, ...]: ...
    @property
    def rewrite_query(self) -> str | None:
        """The query string that replaces the request target's (REQMOD), or None."""


V = TypeVar("V", bound=Decision)
V_co = TypeVar("V_co", bound=Decision, covariant=True)


class BodyScan(Protocol[V_co]):
    """A response body scanned as it streams in."""

    @property
    def certain(self) -> bool:
        """True once more body bytes can no longer change the verdict."""

    def feed(self, data: bytes) -> None: ...
    def provisional(self) -> V_co: ...
    def finish(self) -> V_co: ...


class Judge(Protocol[V]):
    """The policy as one exchange sees it (the server adapts the real one)."""

    @property
    def istag(self) -> str:
        """The ISTag of the rules this message is judged by."""

    def decide_request(self, request: IcapRequest) -> V: ...

    def begin_response(self, request: IcapRequest) -> V | BodyScan[V]:
        """A verdict when the heads suffice, else a scan of the body."""

    def block_page(self, request: IcapRequest, verdict: V) -> bytes:
        """The HTML page that replaces a blocked message."""


def is_scan(decision: V | BodyScan[V]) -> TypeGuard[BodyScan[V]]:
    return hasattr(decision, "feed")
