"""A filter group: who is in it and what it blocks."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..scan_settings import DEFAULT_LIMIT
from ..timerules import parse_schedule
from ..urls.rules import SCOPES
from .filetypes import check_filetype_keys


@dataclass(frozen=True)
class GroupConfig:
    name: str = "default"
    clients: list[str] = field(default_factory=list)
    block: list[str] = field(default_factory=lambda: ["*"])
    allow: list[str] = field(default_factory=list)
    naughtiness_limit: int = DEFAULT_LIMIT
    scan: bool = True
    # file types and SafeSearch (docs/configuration.md [[groups]])
    block_types: list[str] = field(default_factory=list)
    block_extensions: list[str] = field(default_factory=list)
    allow_types: list[str] = field(default_factory=list)
    allow_extensions: list[str] = field(default_factory=list)
    filetype_lists: list[str] = field(default_factory=list)
    safesearch: bool = False
    # per-group phrase lists (docs/configuration.md [[groups]]): empty = [phrases]
    phrase_dir: str = ""
    phrase_banned: list[str] = field(default_factory=list)
    phrase_weighted: list[str] = field(default_factory=list)
    phrase_exception: list[str] = field(default_factory=list)
    # schedules: time rules that change what the group blocks (icapfilter/timerules.py)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    # blanket block (docs/configuration.md [[groups]]): "all" (whitelist only),
    # "ip" (raw IP hosts), "tunnel", "tunnel-ip" (CONNECT); "" = none
    blanket: str = ""

    def check(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("name must be letters, digits, '-' or '_'")
        for client in self.clients:
            if client.startswith("user:"):
                if not client[5:]:
                    raise ValueError("clients: 'user:' needs a name")
                continue
            try:
                ipaddress.ip_network(client, strict=False)
            except ValueError:
                raise ValueError(
                    f"clients: {client!r} is neither an IP/CIDR nor 'user:NAME'") from None
        check_filetype_keys(self)  # file types
        parse_schedule(self.schedule)  # schedules
        if self.blanket and self.blanket not in SCOPES:  # blanket block
            raise ValueError(f"blanket: {self.blanket!r} is not one of "
                             f"{', '.join(map(repr, SCOPES))} (or \"\" for none)")
        if self.phrase_dir and (self.phrase_banned or self.phrase_weighted
                                or self.phrase_exception):  # per-group phrase lists
            raise ValueError("use either phrase_dir or phrase_banned/weighted/exception, "
                             "not both")

    @property
    def own_phrases(self) -> bool:
        """True when this group scans with its own phrase lists, not [phrases]."""
        return bool(self.phrase_dir or self.phrase_banned or self.phrase_weighted
                    or self.phrase_exception)


@dataclass(frozen=True)
class UsersConfig:
    """Group membership decided outside the [[groups]] tables: a user-to-group
    file, and the group Squid names in an ICAP header (docs/configuration.md)."""

    groups_file: str = ""
    group_header: bool = True

    def check(self) -> None:
        if self.groups_file and not Path(self.groups_file).is_file():
            raise ValueError(f"groups_file: no such file {self.groups_file!r}")
