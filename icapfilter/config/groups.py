"""A filter group: who is in it and what it blocks."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..scan_settings import DEFAULT_LIMIT


@dataclass(frozen=True)
class GroupConfig:
    name: str = "default"
    clients: list[str] = field(default_factory=list)
    block: list[str] = field(default_factory=lambda: ["*"])
    allow: list[str] = field(default_factory=list)
    naughtiness_limit: int = DEFAULT_LIMIT
    scan: bool = True

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
