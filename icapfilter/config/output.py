"""What the filter shows and writes: block page, logs, statistics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .checks import _one_of, _seconds, parse_listen


@dataclass(frozen=True)
class StatsConfig:
    dir: str = ""
    interval: float = 5.0
    prometheus: str = ""

    def check(self) -> None:
        _seconds("interval", self.interval, minimum=0.1, maximum=3600)
        if self.prometheus:
            parse_listen(self.prometheus)


@dataclass(frozen=True)
class BlockPageConfig:
    template: str = ""

    def check(self) -> None:
        if self.template and not Path(self.template).is_file():
            raise ValueError(f"template: no such file {self.template!r}")


@dataclass(frozen=True)
class LogConfig:
    access: str = ""
    format: str = "json"
    error: str = ""
    level: str = "info"
    syslog: bool = False

    def check(self) -> None:
        _one_of("format", self.format, ("json", "squid", "e2guardian"))
        _one_of("level", self.level, ("debug", "info", "warning", "error"))
