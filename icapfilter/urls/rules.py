"""List lines that are not hashed entries: regular expressions and blanket blocks.

A hashed entry answers for one host or URL prefix; these answer for a whole
class of URLs (every URL a pattern matches, every URL at all, every raw IP
host), so they travel beside the hash table, in the generation's metadata
(:class:`~icapfilter.urls.model.GenerationInfo`), and every store kind
carries them unchanged. The engine compiles them once per generation
(:mod:`icapfilter.urls.regexlists`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RuleKind = Literal["regex", "blanket"]
#: What a blanket block covers: every request, raw-IP hosts, CONNECT tunnels
#: (a ``host:port`` target), CONNECT tunnels to raw IPs.
Scope = Literal["all", "ip", "tunnel", "tunnel-ip"]
SCOPES: tuple[Scope, ...] = ("all", "ip", "tunnel", "tunnel-ip")

#: e2guardian's list switches (DansGuardian and e2guardian up to v4 read them
#: from ``bannedsitelist``; v5 moved the same four to its story functions
#: ``checkblanketblock``/``sslcheckblanketblock``). e2guardian tests a line
#: with startsWith in this order, so ``*ips`` is ``*ip``: both cover plain
#: requests and CONNECT tunnels alike.
BLANKET_SWITCHES: dict[str, Scope] = {
    "**": "all",
    "**s": "tunnel",
    "*ip": "ip",
    "*ips": "ip",
    "**ips": "tunnel-ip",
}
#: Spellings that look like a switch but are none: ignored with a warning.
NOT_SWITCHES = frozenset({"**ip", "*ip6", "*ips6", "**ip6", "**s6"})


@dataclass(frozen=True, slots=True)
class Rule:
    """One regex or blanket line: ``text`` as written, ``where`` is ``file:line``."""

    kind: RuleKind
    text: str
    category: str
    exception: bool
    where: str

    def to_list(self) -> list[str | bool]:
        return [self.kind, self.text, self.category, self.exception, self.where]

    @classmethod
    def from_list(cls, data: list[str | bool]) -> Rule:
        kind, text, category, exception, where = data
        known: RuleKind
        if kind == "regex":
            known = "regex"
        elif kind == "blanket":
            known = "blanket"
        else:
            raise ValueError(f"unknown rule kind {kind!r}")
        return cls(known, str(text), str(category), bool(exception), str(where))


def scope_of(switch: str) -> Scope:
    """The scope of a blanket switch or of a group's ``blanket`` setting."""
    if switch in BLANKET_SWITCHES:
        return BLANKET_SWITCHES[switch]
    for scope in SCOPES:
        if switch == scope:
            return scope
    raise ValueError(f"unknown blanket block {switch!r}")


_REASONS: dict[Scope, str] = {
    "all": "blanket block: only exceptions are allowed",
    "ip": "blanket block: raw IP address",
    "tunnel": "blanket block: CONNECT tunnel",
    "tunnel-ip": "blanket block: CONNECT tunnel to a raw IP address",
}


def switch_of(scope: Scope) -> str:
    """The e2guardian switch that says ``scope``."""
    return next(s for s, sc in BLANKET_SWITCHES.items() if sc == scope)


def blanket_reason(entry: str) -> str | None:
    """The block reason of a blanket switch; None for any other entry (no
    regex RE2 accepts is spelled like a switch)."""
    scope = BLANKET_SWITCHES.get(entry)
    return None if scope is None else _REASONS[scope]


def covers(scope: Scope, is_ip: bool, tunnel: bool) -> bool:
    """Does a blanket block of ``scope`` apply to a request of this kind?"""
    if scope == "all":
        return True
    if scope == "ip":
        return is_ip
    if scope == "tunnel":
        return tunnel
    return tunnel and is_ip
