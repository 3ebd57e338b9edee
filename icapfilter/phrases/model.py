"""Value types shared by the phrase loader, the scanner and their callers.

They are frozen so one loaded `PhraseSet` can be shared by every worker thread
without copying and without locks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from .timewindow import TimeWindow


class ListKind(StrEnum):
    """Which list an entry came from, as e2guardian classifies it."""

    BANNED = "banned"
    WEIGHTED = "weighted"
    EXCEPTION = "exception"


@dataclass(frozen=True, slots=True)
class Weight:
    """A weight that may be relative to the group's naughtiness limit.

    `<10%>` can only be resolved once the group (and so the limit) is known,
    which is per request, so the raw number is kept.
    """

    value: int
    percent: bool = False

    def resolve(self, limit: int) -> int:
        if not self.percent:
            return self.value
        # e2guardian: (weighting * nlimit) / 100 in C integer arithmetic,
        # which truncates toward zero.
        product = self.value * limit
        q = abs(product) // 100
        return q if product >= 0 else -q

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


@dataclass(frozen=True, slots=True)
class Phrase:
    """One single phrase: `key` is what e2guardian compares with the page."""

    text: str  # `key` decoded for people
    kind: ListKind
    weight: Weight
    category: str | None
    source: str  # "file:line", so an admin can find the entry that matched
    key: bytes = b""
    window: TimeWindow | None = None  # #time: (timewindow.py); None: always


@dataclass(frozen=True, slots=True)
class Combination:
    """Phrases that must all occur on the page; scored as one entry.

    No parts at all (a line of empty parts) matches every page, as in
    e2guardian.
    """

    parts: tuple[str, ...]  # `keys` decoded for people
    kind: ListKind
    weight: Weight
    category: str | None
    source: str
    keys: tuple[bytes, ...] = ()
    window: TimeWindow | None = None  # #time: (timewindow.py); None: always

    @property
    def text(self) -> str:
        return ",".join(f"<{p}>" for p in self.parts)


@dataclass(frozen=True, slots=True)
class LoadError:
    """A list line that was skipped or read in a way e2guardian would not.

    level "error": the line was skipped (unreadable include, bad weight...).
    level "warning": the line was used, but repaired, or dropped as e2guardian
    drops it silently; admins should still fix it.
    """

    path: str
    line: int
    message: str
    level: str = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.level}: {self.message}"


class PhraseHit(NamedTuple):
    """An entry that matched on the page, as shown to the admin.

    A named tuple, not a frozen dataclass: every scan builds one per phrase
    found (about 80 on an ordinary page), and a tuple is built four times faster.
    """

    phrase: str
    weight: int
    list_kind: ListKind
    count: int  # type: ignore[assignment]  # shadows tuple.count, as the name says best
    category: str | None
    combination: bool = False  # `phrase` is then "<a>,<b>"


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The verdict of one body scan and the evidence for it."""

    blocked: bool
    score: int
    reason: str
    category: str | None
    phrases: list[PhraseHit]
    bytes_scanned: int
    truncated: bool
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "block" if self.blocked else "allow"

    def to_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "blocked": self.blocked,
            "score": self.score,
            "reason": self.reason,
            "category": self.category,
            "bytes_scanned": self.bytes_scanned,
            "truncated": self.truncated,
            "notes": list(self.notes),
            "phrases": [
                {
                    "phrase": h.phrase,
                    "weight": h.weight,
                    "list": str(h.list_kind),
                    "count": h.count,
                    "category": h.category,
                    "combination": h.combination,
                }
                for h in self.phrases
            ],
        }
