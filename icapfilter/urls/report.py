"""What a list load did: the answer to "why isn't my list working?"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from icapfilter.urls.rules import Rule

#: A garbage file must not turn the report itself into a memory problem.
MAX_KEPT_PROBLEMS = 1000


@dataclass(frozen=True, slots=True)
class Problem:
    """A skipped line (error) or an ignored feature (warning), located as ``file:line``."""

    source: str
    line: int | None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{self.message}"


@dataclass
class LoadReport:
    """Counts and problems of one load; ``activated`` says whether it went live."""

    sources: list[str] = field(default_factory=list)
    generation: str | None = None
    activated: bool = False
    entries: int = 0
    exceptions: int = 0
    unique_keys: int = 0
    host_marks: int = 0  # hosts with URL entries, stored beside the entries
    #: regex and blanket lines read: they travel in the generation's metadata
    rules: list[Rule] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    exception_categories: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0
    duration: float = 0.0
    failure: str | None = None

    def problem(
        self,
        source: str,
        line: int | None,
        message: str,
        severity: Literal["error", "warning"] = "error",
    ) -> None:
        if severity == "error":
            self.errors += 1
        else:
            self.warnings += 1
        if len(self.problems) < MAX_KEPT_PROBLEMS:
            self.problems.append(Problem(source, line, message, severity))

    def rule(self, rule: Rule) -> None:
        """A regex or blanket line, counted in its category like an entry."""
        self.rules.append(rule)
        self.count(rule.category, rule.exception)

    def count(self, category: str, exception: bool) -> None:
        self.entries += 1
        self.counts[category] = self.counts.get(category, 0) + 1
        if exception:
            self.exceptions += 1
            self.exception_categories.add(category)

    def summary(self) -> str:
        """Human-readable report for the CLI and logs."""
        state = "activated" if self.activated else "NOT activated"
        lines = [
            f"generation {self.generation or '-'}: {state}",
            f"entries: {self.entries} ({self.unique_keys} distinct), "
            f"exceptions: {self.exceptions}, skipped lines: {self.errors}, "
            f"warnings: {self.warnings}, {self.duration:.2f}s",
        ]
        if self.rules:
            regexes = sum(r.kind == "regex" for r in self.rules)
            lines.append(f"regular expressions: {regexes}, blanket blocks: "
                         f"{len(self.rules) - regexes} (counted in the entries)")
        if self.failure:
            lines.append(f"failure: {self.failure}")
        for name in sorted(self.counts):
            tag = " (exception)" if name in self.exception_categories else ""
            lines.append(f"  {name}{tag}: {self.counts[name]}")
        lines.extend(str(p) for p in self.problems)
        hidden = self.errors + self.warnings - len(self.problems)
        if hidden > 0:
            lines.append(f"... and {hidden} more problems")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "activated": self.activated,
            "entries": self.entries,
            "exceptions": self.exceptions,
            "unique_keys": self.unique_keys,
            "rules": len(self.rules),
            "counts": dict(sorted(self.counts.items())),
            "exception_categories": sorted(self.exception_categories),
            "errors": self.errors,
            "warnings": self.warnings,
            "problems": [str(p) for p in self.problems],
            "duration": round(self.duration, 3),
            "sources": self.sources,
            "failure": self.failure,
        }
