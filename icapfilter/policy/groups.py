"""Filter groups: which rules apply to a client, as e2guardian's filter groups.

A client's group is, in this order (docs/configuration.md, "Which group"):
1. the group Squid names in the ICAP header ``X-Icapfilter-Group`` (after
   its own ACLs, e.g. an LDAP group check, decided membership);
2. the user's line in the user-to-group file (``[users] groups_file``);
3. a ``user:NAME`` entry in a group's ``clients``;
4. the most specific network in a group's ``clients``;
5. the default group.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..config import GroupConfig
from ..timerules import ScheduleRule, parse_schedule
from .hook import Client

log = logging.getLogger("icapfilter")


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    users: frozenset[str]
    block: frozenset[str]
    allow: frozenset[str]
    limit: int
    scan: bool
    # schedules (policy/schedule.py): the rules, and what the active ones changed
    schedule: tuple[ScheduleRule, ...] = ()
    unblocked: frozenset[str] = frozenset()
    timed: str = ""  # the active rules, "" when none: part of learned-cache keys
    blanket: str = ""  # blanket block: urls.rules.Scope, "" for none

    @classmethod
    def from_config(cls, config: GroupConfig,
                    aliases: Mapping[str, str] | None = None) -> Group:
        """``aliases`` maps a category alias (UT1's symlinked folders, e.g.
        ``porn``) to the category its entries are loaded under (``adult``)."""
        users = frozenset(c[5:].lower() for c in config.clients if c.startswith("user:"))
        nets = tuple(ipaddress.ip_network(c, strict=False) for c in config.clients
                     if not c.startswith("user:"))
        return cls(config.name, nets, users, _resolved(config.block, aliases),
                   _resolved(config.allow, aliases), config.naughtiness_limit, config.scan,
                   schedule=tuple(rule.renamed(lambda names: _resolved(sorted(names), aliases))
                                  for rule in parse_schedule(config.schedule)),
                   blanket=config.blanket)

    def blocks(self, category: str) -> bool:
        return (category not in self.allow and category not in self.unblocked
                and ("*" in self.block or category in self.block))

    def allows(self, category: str) -> bool:
        """A category this group lets through even when another list blocks the URL."""
        return category in self.allow


def _resolved(names: Sequence[str], aliases: Mapping[str, str] | None) -> frozenset[str]:
    if not aliases:
        return frozenset(names)
    return frozenset([*names, *(aliases[n] for n in names if n in aliases)])


#: The group of ``icapfilter check`` without a configuration: every list blocks.
EVERY_LIST_BLOCKS = Group.from_config(GroupConfig())

#: Distinct unknown names in X-Icapfilter-Group logged per policy (then silence).
_MAX_LOGGED_UNKNOWN = 20


class GroupMap:
    """Maps a client to its filter group (the order is in the module's docstring).

    ``file_users`` is the user-to-group file (user in lower case -> group
    name); ``trust_header`` False ignores ``X-Icapfilter-Group``.
    """

    def __init__(self, groups: Sequence[GroupConfig], *,
                 aliases: Mapping[str, str] | None = None,
                 file_users: Mapping[str, str] | None = None,
                 trust_header: bool = True) -> None:
        self.groups = [Group.from_config(g, aliases) for g in groups]
        filed = set((file_users or {}).values())
        named = [g for g in self.groups if g.name == "default"]
        unassigned = [g for g in self.groups
                      if not g.networks and not g.users and g.name not in filed]
        self.default = (named or unassigned or self.groups)[0]
        self._by_name = {g.name: g for g in self.groups}
        self._by_folded = {g.name.lower(): g for g in reversed(self.groups)}
        self._file_users = {user: self._by_name[name]
                            for user, name in (file_users or {}).items()}
        self.trust_header = trust_header
        self._unknown_logged: set[str] = set()
        # (network, group) per IP version, most specific first (ties: the group
        # listed first), so the first network holding an address decides
        by_prefix = sorted(((net, g) for g in self.groups for net in g.networks),
                           key=lambda pair: -pair[0].prefixlen)
        self._networks = {version: [(net, g) for net, g in by_prefix if net.version == version]
                          for version in (4, 6)}

    def named(self, name: str) -> Group | None:
        return self._by_name.get(name)

    def from_header(self, value: str) -> Group | None:
        """The first configured group named in the header's value (names
        separated by commas or spaces, as a Squid note list may be), or None."""
        for name in value.replace(",", " ").split():
            group = self._by_name.get(name) or self._by_folded.get(name.lower())
            if group is not None:
                return group
        if value.strip() not in ("", "-") and len(self._unknown_logged) < _MAX_LOGGED_UNKNOWN \
                and value not in self._unknown_logged:
            self._unknown_logged.add(value)
            log.warning("X-Icapfilter-Group %r names no configured group; the client is "
                        "placed by user and address instead", value[:100])
        return None

    def match(self, client: Client) -> Group:
        if client.group and self.trust_header:
            group = self.from_header(client.group)
            if group is not None:
                return group
        if client.user:
            user = client.user.lower()
            group = self._file_users.get(user)
            if group is not None:
                return group
            for group in self.groups:
                if user in group.users:
                    return group
        if client.ip:
            try:
                address = ipaddress.ip_address(client.ip.split("%")[0])
            except ValueError:
                return self.default
            if address.version == 6 and address.ipv4_mapped is not None:
                address = address.ipv4_mapped  # ::ffff:10.2.3.4 is in 10.0.0.0/8
            for net, group in self._networks[address.version]:
                if address in net:
                    return group
        return self.default
