"""Time rules of a group's schedule: weekdays, hours and dates, in squidGuard's spirit.

squidGuard's ``time`` blocks (``weekly mtwhf 08:00-16:30``, ``date *.12.24``)
are written here as the keys of one ``[[groups.schedule]]`` entry: ``days``,
``hours`` and ``dates``. An entry is active when every condition it gives
holds. Moments are naive local wall-clock times (the server's zone, or
``[server] timezone``): a rule says "08:00", never an offset.

Two choices differ from squidGuard on purpose: an hour range is half-open
(``08:00-16:30`` ends as 16:30 begins, so ``16:30-17:00`` follows it without
overlap; squidGuard counts 16:30 in both), and a date range is a span of the
calendar (``2026-12-19 - 2027-01-03`` crosses the new year; squidGuard compares
year, month and day separately, so that range never matches).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: squidGuard's one-letter days: s=sun m=mon t=tue w=wed h=thu f=fri a=sat
_DAY_LETTERS = {"m": 0, "t": 1, "w": 2, "h": 3, "f": 4, "a": 5, "s": 6}
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HOURS = re.compile(r"([0-9]{2}):([0-9]{2})\s*-\s*([0-9]{2}):([0-9]{2})")
_DATE = r"(\*|[0-9]{4})[-.](\*|[0-9]{2})[-.](\*|[0-9]{2})"
_DATES = re.compile(rf"{_DATE}(?:\s*-\s*{_DATE})?")
_CONDITIONS = ("days", "hours", "dates")
_EFFECTS = ("block", "unblock", "allow", "naughtiness_limit")


def _day(token: str) -> int | None:
    for i, (short, full) in enumerate(zip(_DAY_NAMES, _FULL_NAMES, strict=True)):
        if token in (short, full, full + "s"):
            return i
    return None


def parse_days(value: str | list[str]) -> frozenset[int]:
    """Weekdays (0 = Monday) from ``"mon-fri"``, ``["sat", "sun"]``, squidGuard's
    letters ``"mtwhf"`` or ``"*"``; names are tried before letters (``sat``)."""
    tokens = value if isinstance(value, list) else [value]
    days: set[int] = set()
    for item in tokens:
        if not isinstance(item, str):
            raise ValueError(f"days: expected names, got {item!r}")
        for token in re.split(r"[\s,]+", item.strip().lower()):
            if not token:
                continue
            days |= _day_token(token)
    if not days:
        raise ValueError("days: no day given")
    return frozenset(days)


def _day_token(token: str) -> set[int]:
    if token == "*":
        return set(range(7))
    single = _day(token)
    if single is not None:
        return {single}
    first, dash, last = token.partition("-")
    if dash:
        a, b = _day(first), _day(last)
        if a is None or b is None:
            raise ValueError(f"days: {token!r} is not a range of day names like mon-fri")
        return {(a + i) % 7 for i in range((b - a) % 7 + 1)}
    if all(c in _DAY_LETTERS for c in token):
        return {_DAY_LETTERS[c] for c in token}
    raise ValueError(f"days: unknown day {token!r} (mon..sun, monday, mon-fri, "
                     "squidGuard letters smtwhfa, or *)")


@dataclass(frozen=True, slots=True)
class HourRange:
    """Minutes since midnight, start included, end excluded (24:00 = 1440)."""

    start: int
    end: int

    def __contains__(self, minute: int) -> bool:
        return self.start <= minute < self.end


def _items(value: str | list[str], pattern: re.Pattern[str], key: str,
           form: str) -> Iterator[tuple[str, re.Match[str]]]:
    """Each item of a string-or-list key with its match; ValueError names a bad one."""
    for item in value if isinstance(value, list) else [value]:
        m = pattern.fullmatch(item.strip()) if isinstance(item, str) else None
        if m is None:
            raise ValueError(f"{key}: {item!r} is not {form}")
        yield item, m


def parse_hours(value: str | list[str]) -> tuple[HourRange, ...]:
    ranges = []
    for item, m in _items(value, _HOURS, "hours",
                          "HH:MM-HH:MM (two digits each, as in 08:00-16:30)"):
        sh, sm, eh, em = map(int, m.groups())
        if sh > 23 or sm > 59 or eh > 24 or em > 59 or (eh == 24 and em):
            raise ValueError(f"hours: {item!r} is not a time of day (00:00 to 24:00)")
        start, end = sh * 60 + sm, eh * 60 + em
        if start >= end:
            raise ValueError(f"hours: {item!r} ends before it starts; over midnight, write "
                             "two ranges (22:00-24:00 and 00:00-06:00)")
        ranges.append(HourRange(start, end))
    if not ranges:
        raise ValueError("hours: no range given")
    return tuple(ranges)


@dataclass(frozen=True, slots=True)
class DateSpec:
    """A day with ``*`` wildcards (None), or a range: full dates, or a yearly
    range of ``*-MM-DD`` days that may wrap over the new year."""

    year: int | None
    month: int | None
    day: int | None
    until: tuple[int | None, int, int] | None = None

    def matches(self, today: date) -> bool:
        if self.until is None:
            return ((self.year is None or self.year == today.year)
                    and (self.month is None or self.month == today.month)
                    and (self.day is None or self.day == today.day))
        assert self.month is not None and self.day is not None
        end_year, end_month, end_day = self.until
        if self.year is not None and end_year is not None:
            first = date(self.year, self.month, self.day)
            return first <= today <= date(end_year, end_month, end_day)
        start, end, now = (self.month, self.day), (end_month, end_day), (today.month, today.day)
        return start <= now <= end if start <= end else (now >= start or now <= end)


def _date_part(text: str, low: int, high: int, what: str, item: str) -> int | None:
    if text == "*":
        return None
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"dates: {item!r}: {what} {text} out of range")
    return number


def _real_day(year: int | None, month: int | None, day: int | None, item: str) -> None:
    """A day that no calendar has (02-30) would silently never match."""
    if month is not None and day is not None:
        try:
            date(year or 2000, month, day)  # 2000: a leap year, *-02-29 is a day
        except ValueError as exc:
            raise ValueError(f"dates: {item!r}: {exc}") from None


def parse_dates(value: str | list[str]) -> tuple[DateSpec, ...]:
    specs = []
    for item, m in _items(value, _DATES, "dates", "YYYY-MM-DD (or YYYY.MM.DD, with * "
                          "wildcards), or a range FIRST - LAST"):
        y, mo, d = (_date_part(m[1], 1, 9999, "year", item), _date_part(m[2], 1, 12, "month", item),
                    _date_part(m[3], 1, 31, "day", item))
        _real_day(y, mo, d, item)
        if m[4] is None:
            specs.append(DateSpec(y, mo, d))
            continue
        y2, mo2, d2 = (_date_part(m[4], 1, 9999, "year", item),
                       _date_part(m[5], 1, 12, "month", item), _date_part(m[6], 1, 31, "day", item))
        _real_day(y2, mo2, d2, item)
        if mo is None or d is None or mo2 is None or d2 is None or (y is None) != (y2 is None):
            raise ValueError(f"dates: {item!r}: a range joins two full dates, or two "
                             "yearly days (*-12-20 - *-01-05)")
        if y is not None and y2 is not None and date(y, mo, d) > date(y2, mo2, d2):
            raise ValueError(f"dates: {item!r} ends before it starts")
        specs.append(DateSpec(y, mo, d, (y2, mo2, d2)))
    if not specs:
        raise ValueError("dates: no date given")
    return tuple(specs)


@dataclass(frozen=True, slots=True)
class ScheduleRule:
    """One ``[[groups.schedule]]`` entry: when it applies and what it changes."""

    days: frozenset[int] | None = None
    hours: tuple[HourRange, ...] = ()
    dates: tuple[DateSpec, ...] = ()
    block: frozenset[str] = frozenset()
    unblock: frozenset[str] = frozenset()
    allow: frozenset[str] = frozenset()
    naughtiness_limit: int | None = None

    def active(self, moment: datetime) -> bool:
        if self.days is not None and moment.weekday() not in self.days:
            return False
        if self.hours:
            minute = moment.hour * 60 + moment.minute
            if not any(minute in r for r in self.hours):
                return False
        return not self.dates or any(d.matches(moment.date()) for d in self.dates)

    def renamed(self, resolve: Callable[[frozenset[str]], frozenset[str]]) -> ScheduleRule:
        """The rule with its category names resolved (UT1 aliases)."""
        return replace(self, block=resolve(self.block), unblock=resolve(self.unblock),
                       allow=resolve(self.allow))


def _categories(table: Mapping[str, Any], key: str) -> frozenset[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{key}: expected a list of category names, got {value!r}")
    return frozenset(value)


def parse_rule(table: Mapping[str, Any]) -> ScheduleRule:
    """One entry as read from TOML; raises ValueError naming the key at fault."""
    unknown = sorted(set(table) - set(_CONDITIONS) - set(_EFFECTS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: "
                         f"{', '.join((*_CONDITIONS, *_EFFECTS))})")
    if not any(k in table for k in _CONDITIONS):
        raise ValueError("needs days, hours or dates (when does it apply?)")
    if not any(k in table for k in _EFFECTS):
        raise ValueError("needs block, unblock, allow or naughtiness_limit (what does it do?)")
    limit = table.get("naughtiness_limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise ValueError(f"naughtiness_limit: expected an integer, got {limit!r}")
    rule = ScheduleRule(
        days=parse_days(table["days"]) if "days" in table else None,
        hours=parse_hours(table["hours"]) if "hours" in table else (),
        dates=parse_dates(table["dates"]) if "dates" in table else (),
        block=_categories(table, "block"),
        unblock=_categories(table, "unblock"),
        allow=_categories(table, "allow"),
        naughtiness_limit=limit,
    )
    both = sorted(rule.block & rule.unblock)
    if both:
        raise ValueError(f"{both[0]!r} is in both block and unblock")
    return rule


def parse_schedule(entries: list[dict[str, Any]]) -> tuple[ScheduleRule, ...]:
    rules = []
    for number, table in enumerate(entries, 1):
        try:
            rules.append(parse_rule(table))
        except ValueError as exc:
            raise ValueError(f"schedule #{number}: {exc}") from None
    return tuple(rules)


def parse_moment(text: str) -> datetime:
    """``"2026-12-07 09:30"`` (or ISO 8601 with a ``T``) as a naive local time,
    for ``icapfilter check --at``."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time like '2026-12-07 09:30'") from None
    if moment.tzinfo is not None:
        raise ValueError(f"{text!r}: give the local time without an offset")
    return moment


def check_timezone(name: str) -> None:
    """An IANA zone name (``Europe/Paris``) the system's tz database knows."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a folder (Europe), a name too long
        raise ValueError(f"timezone: unknown time zone {name!r} (an IANA name such as "
                         "'Europe/Paris'; the tz database must be installed)") from None
