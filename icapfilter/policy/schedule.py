"""Schedules: what a group blocks at a given moment, and the clock that says when.

The clock is a value handed to the policy (:func:`local_clock`), never read
from global state, so ``icapfilter check --at`` and tests ask about any moment.
Every ``[[groups.schedule]]`` entry active at that moment applies: their
``block`` and ``allow`` categories add to the group's, ``unblock`` takes
categories out of the group's ``block`` (``"*"``: all of them; ``block`` of an
active entry wins over ``unblock`` of another), and the lowest ``naughtiness_limit`` given wins.

What a group blocks now enters the learned cache's keys (:func:`timed_generation`),
so a page learned at 17:00 is not answered from the cache at 09:00; the URL
decision cache holds list hits only, which no schedule changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from .groups import Group

#: Returns the current local wall-clock time, naive (no tzinfo).
Clock = Callable[[], datetime]


def local_clock(timezone: str = "") -> Clock:
    """The wall clock of ``timezone`` (an IANA name), else of the server."""
    if not timezone:
        return datetime.now
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)

    def now() -> datetime:
        return datetime.now(zone).replace(tzinfo=None)

    return now


def group_at(group: Group, moment: datetime) -> Group:
    """``group`` as its schedule makes it at ``moment`` (itself when no rule applies)."""
    return apply_rules(group, active_rules(group, moment))


def active_rules(group: Group, moment: datetime) -> tuple[int, ...]:
    """The indices of the group's rules that apply at ``moment``."""
    return tuple(i for i, rule in enumerate(group.schedule) if rule.active(moment))


def apply_rules(group: Group, active: tuple[int, ...], phrase_state: str = "") -> Group:
    """``group`` changed by its rules ``active``; ``phrase_state`` (the open
    #time: windows of its phrase lists) joins the learned-cache key."""
    if not active:
        return replace(group, timed=phrase_state) if phrase_state else group
    rules = [group.schedule[i] for i in active]
    block = frozenset().union(*(r.block for r in rules))
    unblock = frozenset().union(*(r.unblock for r in rules)) - block
    limits = [r.naughtiness_limit for r in rules if r.naughtiness_limit is not None]
    if "*" in unblock:  # every block lifted but the active rules' own
        new_block, unblocked = block, frozenset[str]()
    else:
        new_block, unblocked = group.block | block, (group.unblocked | unblock) - block
    return replace(
        group,
        block=new_block,
        allow=group.allow.union(*(r.allow for r in rules)),
        unblocked=unblocked,
        limit=min(limits) if limits else group.limit,
        timed="s" + ",".join(map(str, active)) + phrase_state,
    )


def timed_generation(generation: str, group: Group) -> str:
    """The learned cache's generation for a group at a moment: a verdict learned
    under other active rules (or other open ``#time:`` windows, which
    FilterPolicy adds to ``timed``) is kept under another key."""
    return f"{generation}/{group.timed}" if group.timed else generation
