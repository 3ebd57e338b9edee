"""Filter groups: which rules apply to a client, as e2guardian's filter groups."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import GroupConfig
from .hook import Client


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    users: frozenset[str]
    block: frozenset[str]
    allow: frozenset[str]
    limit: int
    scan: bool

    @classmethod
    def from_config(cls, config: GroupConfig) -> Group:
        users = frozenset(c[5:].lower() for c in config.clients if c.startswith("user:"))
        nets = tuple(ipaddress.ip_network(c, strict=False) for c in config.clients
                     if not c.startswith("user:"))
        return cls(config.name, nets, users, frozenset(config.block), frozenset(config.allow),
                   config.naughtiness_limit, config.scan)

    def blocks(self, category: str) -> bool:
        return category not in self.allow and ("*" in self.block or category in self.block)

    def allows(self, category: str) -> bool:
        """A category this group lets through even when another list blocks the URL."""
        return category in self.allow


#: The group of ``icapfilter check`` without a configuration: every list blocks.
EVERY_LIST_BLOCKS = Group.from_config(GroupConfig())


class GroupMap:
    """Maps a client to its filter group: by user name first, then by the
    most specific network, else the default group."""

    def __init__(self, groups: Sequence[GroupConfig]) -> None:
        self.groups = [Group.from_config(g) for g in groups]
        named = [g for g in self.groups if g.name == "default"]
        unassigned = [g for g in self.groups if not g.networks and not g.users]
        self.default = (named or unassigned or self.groups)[0]

    def named(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def match(self, client: Client) -> Group:
        if client.user:
            user = client.user.lower()
            for group in self.groups:
                if user in group.users:
                    return group
        if client.ip:
            try:
                address = ipaddress.ip_address(client.ip.split("%")[0])
            except ValueError:
                return self.default
            best: tuple[int, Group] | None = None
            for group in self.groups:
                for net in group.networks:
                    if address.version == net.version and address in net:
                        if best is None or net.prefixlen > best[0]:
                            best = (net.prefixlen, group)
            if best is not None:
                return best[1]
        return self.default
