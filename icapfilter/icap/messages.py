"""Immutable values for ICAP and encapsulated HTTP messages.

Parsing produces these and nothing else, so that everything past the parser
can trust them (validation happens once, in :mod:`icapfilter.icap.parse`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Headers:
    """Ordered header fields with case-insensitive lookup; values keep their bytes."""

    items: tuple[tuple[str, str], ...] = ()
    # lower-cased name -> first value: a transaction asks for about seven
    # fields, and a scan of every field for each showed in REQMOD profiles
    _first: dict[str, str] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        first = self._first
        for key, value in self.items:
            first.setdefault(key.lower(), value)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> Headers:
        return cls(tuple(pairs))

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        low = name.lower()
        return [value for key, value in self.items if key.lower() == low]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)


@dataclass(frozen=True, slots=True)
class HttpRequestHead:
    method: str
    target: str
    version: str
    headers: Headers
    raw: bytes

    @property
    def url(self) -> str:
        """The absolute URL, rebuilt from Host for origin-form targets."""
        if self.method.upper() == "CONNECT":
            return self.target
        if "://" in self.target:
            return self.target
        host = self.headers.get("Host", "") or ""
        return f"http://{host}{self.target}"


@dataclass(frozen=True, slots=True)
class HttpResponseHead:
    version: str
    status: int
    reason: str
    headers: Headers
    raw: bytes


@dataclass(frozen=True, slots=True)
class IcapRequest:
    method: str
    uri: str
    service: str
    version: str
    headers: Headers
    encapsulated: tuple[tuple[str, int], ...] = ()
    # Filled in once the encapsulated heads have been read.
    http_request: HttpRequestHead | None = None
    http_response: HttpResponseHead | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def body_kind(self) -> str | None:
        """``req-body``, ``res-body``, ``opt-body``, ``null-body`` or None."""
        if not self.encapsulated:
            return None
        return self.encapsulated[-1][0]

    @property
    def has_body(self) -> bool:
        return self.body_kind in ("req-body", "res-body", "opt-body")

    @property
    def preview(self) -> int | None:
        value = self.headers.get("Preview")
        return int(value) if value is not None else None

    def allows(self, code: int) -> bool:
        """True when the client listed ``code`` in ``Allow`` (RFC 3507 4.6)."""
        wanted = str(code)
        for value in self.headers.get_all("Allow"):
            if wanted in (part.strip() for part in value.split(",")):
                return True
        return False

    @property
    def keep_alive(self) -> bool:
        return (self.headers.get("Connection") or "").strip().lower() != "close"
