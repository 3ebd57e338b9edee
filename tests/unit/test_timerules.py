"""Schedule time rules: days, hours and dates as written in [[groups.schedule]]."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icapfilter.timerules import (
    check_timezone,
    parse_dates,
    parse_days,
    parse_hours,
    parse_moment,
    parse_rule,
    parse_schedule,
)

MONDAY = datetime(2026, 12, 7, 9, 30)  # a Monday


@pytest.mark.parametrize("written, days", [
    ("mon-fri", {0, 1, 2, 3, 4}),
    ("mtwhf", {0, 1, 2, 3, 4}),          # squidGuard's letters
    ("as", {5, 6}),
    ("sat", {5}),                        # a name before letters (s, a, t)
    (["saturdays", "sunday"], {5, 6}),
    ("fri-mon", {4, 5, 6, 0}),           # a range wraps over the weekend
    ("*", set(range(7))),
    ("Mon, Wed", {0, 2}),
])
def test_days_are_read_as_names_ranges_or_squidguard_letters(written, days):
    assert parse_days(written) == frozenset(days)


@pytest.mark.parametrize("written", ["mon-xyz", "funday", "", [], "mon-", "q"])
def test_an_unknown_day_is_an_error_naming_it(written):
    with pytest.raises(ValueError, match="days"):
        parse_days(written)


def test_hours_are_half_open_and_may_end_at_midnight():
    (morning,) = parse_hours("08:00-16:30")
    assert 8 * 60 in morning and 16 * 60 + 29 in morning and 16 * 60 + 30 not in morning
    (evening,) = parse_hours(["17:00-24:00"])
    assert 23 * 60 + 59 in evening


@pytest.mark.parametrize("written, why", [
    ("8:00-16:30", "HH:MM-HH:MM"),
    ("16:30-08:00", "ends before it starts"),
    ("08:00-08:00", "ends before it starts"),
    ("25:00-26:00", "not a time of day"),
    ("08:61-09:00", "not a time of day"),
    ("23:00-24:30", "not a time of day"),
    (830, "HH:MM-HH:MM"),
])
def test_bad_hours_are_errors_saying_why(written, why):
    with pytest.raises(ValueError, match=why):
        parse_hours(written)


def test_dates_take_squidguard_forms_wildcards_and_ranges():
    (christmas,) = parse_dates("*.12.25")
    assert christmas.matches(date(2031, 12, 25)) and not christmas.matches(date(2031, 12, 24))
    (holidays,) = parse_dates("2026-12-19 - 2027-01-03")
    assert holidays.matches(date(2027, 1, 1)) and holidays.matches(date(2026, 12, 19))
    assert not holidays.matches(date(2027, 1, 4))
    (compact,) = parse_dates("2026.12.19-2027.01.03")
    assert compact == holidays
    (yearly,) = parse_dates("*-12-20 - *-01-05")
    assert yearly.matches(date(2030, 12, 31)) and yearly.matches(date(2031, 1, 5))
    assert not yearly.matches(date(2031, 1, 6)) and not yearly.matches(date(2030, 6, 1))
    (firsts,) = parse_dates("*-*-01")
    assert firsts.matches(date(2026, 3, 1)) and not firsts.matches(date(2026, 3, 2))


@pytest.mark.parametrize("written, why", [
    ("2026-02-30", "day is out of range"),
    ("2026-13-01", "month 13 out of range"),
    ("2027-01-03 - 2026-12-19", "ends before it starts"),
    ("2026-12-19 - *-01-03", "a range joins"),
    ("26-12-19", "YYYY-MM-DD"),
])
def test_bad_dates_are_errors_saying_why(written, why):
    with pytest.raises(ValueError, match=why):
        parse_dates(written)


def test_a_rule_applies_when_every_condition_it_gives_holds():
    rule = parse_rule({"days": "mon-fri", "hours": ["08:00-12:00", "13:00-16:30"],
                       "dates": ["2026-09-01 - 2027-07-04"], "block": ["games"]})
    assert rule.active(MONDAY)
    assert not rule.active(MONDAY.replace(hour=12, minute=30))        # lunch
    assert not rule.active(MONDAY + timedelta(days=5))                # Saturday
    assert not rule.active(MONDAY.replace(year=2027, month=7, day=5))  # after term


@pytest.mark.parametrize("table, why", [
    ({"block": ["games"]}, "needs days, hours or dates"),
    ({"days": "mon"}, "needs block, unblock, allow or naughtiness_limit"),
    ({"days": "mon", "block": ["games"], "colour": "red"}, "unknown key 'colour'"),
    ({"days": "mon", "block": "games"}, "expected a list of category names"),
    ({"days": "mon", "block": ["games"], "unblock": ["games"]}, "both block and unblock"),
    ({"days": "mon", "naughtiness_limit": "40"}, "expected an integer"),
])
def test_a_bad_rule_is_an_error_naming_what_is_wrong(table, why):
    with pytest.raises(ValueError, match=why):
        parse_rule(table)


def test_schedule_errors_name_the_entry():
    with pytest.raises(ValueError, match=r"schedule #2: hours"):
        parse_schedule([{"days": "mon", "block": ["a"]}, {"hours": "9-10", "block": ["a"]}])


@pytest.mark.parametrize("name", ["Europe", "x" * 300, "Europe/Paris\x00", "../zoneinfo"])
def test_a_time_zone_that_is_a_folder_or_no_file_name_is_an_unknown_zone(name):
    with pytest.raises(ValueError, match="unknown time zone"):
        check_timezone(name)


def test_at_takes_a_local_time_without_an_offset():
    assert parse_moment("2026-12-07 09:30") == MONDAY
    with pytest.raises(ValueError, match="without an offset"):
        parse_moment("2026-12-07T09:30+01:00")
    with pytest.raises(ValueError, match="like '2026-12-07 09:30'"):
        parse_moment("monday morning")


# -- properties --------------------------------------------------------------

minutes = st.integers(0, 24 * 60)


@given(minutes, minutes, st.integers(0, 24 * 60 - 1))
def test_an_hour_range_holds_exactly_the_minutes_between_its_ends(a, b, minute):
    start, end = min(a, b), max(a, b)
    text = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    if start == end:
        with pytest.raises(ValueError):
            parse_hours(text)
        return
    (hours,) = parse_hours(text)
    assert (minute in hours) == (start <= minute < end)


@given(st.text(max_size=20))
def test_any_text_as_hours_is_a_range_or_a_value_error(text):
    try:
        ranges = parse_hours(text)
    except ValueError:
        return
    assert all(0 <= r.start < r.end <= 1440 for r in ranges)


@given(st.text(max_size=30))
def test_any_text_as_dates_or_days_is_read_or_a_value_error(text):
    for parse in (parse_dates, parse_days):
        try:
            parse(text)
        except ValueError:
            pass


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
       st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
       st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
       st.sampled_from(["-", "."]))
def test_a_date_range_holds_exactly_the_days_between_its_ends(a, b, day, sep):
    first, last = min(a, b), max(a, b)
    (span,) = parse_dates(f"{first.strftime(f'%Y{sep}%m{sep}%d')} - "
                          f"{last.strftime(f'%Y{sep}%m{sep}%d')}")
    assert span.matches(day) == (first <= day <= last)


@given(st.sets(st.integers(0, 6), min_size=1), st.datetimes(min_value=datetime(2000, 1, 1),
                                                            max_value=datetime(2100, 1, 1)))
def test_squidguard_letters_and_day_names_agree(days, moment):
    letters = "".join("mtwhfas"[d] for d in sorted(days))
    names = [("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in sorted(days)]
    by_letters = parse_rule({"days": letters, "block": ["x"]})
    by_names = parse_rule({"days": names, "block": ["x"]})
    assert by_letters.active(moment) == by_names.active(moment) == (moment.weekday() in days)
