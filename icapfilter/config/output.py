"""What the filter shows and writes: block page, logs, statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    """The block page (icapfilter/blockpage.py, docs/configuration.md [blockpage])."""

    # one page for every language, replacing the shipped ones
    template: str = ""
    # blockpage.<lang>.html files, over the shipped pages (en, fr, de, es)
    template_dir: str = ""
    # the page when Accept-Language names none of the pages
    default_language: str = "en"
    # "reason": reason and category (pupils); "full": also phrases, score and limit (staff)
    detail: str = "reason"
    # groups whose pages are "full" whatever detail says (staff)
    full_groups: list[str] = field(default_factory=list)
    # an unblock-request link; {url}, {category}, {reason} are filled in, URL-encoded
    contact_url: str = ""

    def check(self) -> None:
        from ..blockpage import DETAILS, check_contact_url

        if self.template and not Path(self.template).is_file():
            raise ValueError(f"template: no such file {self.template!r}")
        if self.template_dir and not Path(self.template_dir).is_dir():
            raise ValueError(f"template_dir: no such folder {self.template_dir!r}")
        _one_of("detail", self.detail, DETAILS)
        if self.contact_url:
            check_contact_url(self.contact_url)


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
