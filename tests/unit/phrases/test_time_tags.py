"""e2guardian's #time: tags in phrase lists, read and applied as 5.3 does."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from icapfilter.phrases import load_phrase_set, scan_bytes
from icapfilter.phrases.parser import ListParser
from icapfilter.phrases.timed import phrase_state, phrases_at
from icapfilter.phrases.timewindow import time_window
from tests.unit.phrases.listhelpers import write

MONDAY_9 = datetime(2026, 12, 7, 9, 0)
MONDAY_18 = datetime(2026, 12, 7, 18, 0)
SATURDAY_9 = datetime(2026, 12, 12, 9, 0)
SCHOOL = "#time: 8 0 16 30 01234\n"


def blocked(ps, page: bytes, moment: datetime, limit: int = 50) -> bool:
    return scan_bytes(phrases_at(ps, moment), page, limit=limit).blocked


def test_a_tag_limits_the_entries_below_it_to_its_window(tmp_path):
    banned = write(tmp_path / "banned", f"<always>\n{SCHOOL}<gameword>\n")
    ps, errors = load_phrase_set([banned])
    assert errors == []
    assert blocked(ps, b"<p>gameword</p>", MONDAY_9)
    assert not blocked(ps, b"<p>gameword</p>", MONDAY_18)
    assert not blocked(ps, b"<p>gameword</p>", SATURDAY_9)
    assert blocked(ps, b"<p>always</p>", SATURDAY_9)  # above the tag: no limit


def test_both_ends_of_a_window_count_to_the_last_second_as_in_e2guardian(tmp_path):
    ps, _ = load_phrase_set([write(tmp_path / "b", f"{SCHOOL}<x1>\n")])
    assert blocked(ps, b"x1", MONDAY_9.replace(hour=8, minute=0))
    assert blocked(ps, b"x1", MONDAY_9.replace(hour=16, minute=30, second=59))
    assert not blocked(ps, b"x1", MONDAY_9.replace(hour=16, minute=31))
    assert not blocked(ps, b"x1", MONDAY_9.replace(hour=7, minute=59))


def test_a_tag_reaches_into_includes_but_not_back_out(tmp_path):
    write(tmp_path / "inner", "<inner1>\n#time: 0 0 0 1 6\n<inner2>\n")
    outer = write(tmp_path / "outer", f"{SCHOOL}.Include<{tmp_path / 'inner'}>\n<outer1>\n")
    ps, _ = load_phrase_set([outer])
    assert blocked(ps, b"inner1", MONDAY_9) and not blocked(ps, b"inner1", MONDAY_18)
    assert not blocked(ps, b"inner2", MONDAY_9)  # Sunday 00:00-00:01 only
    assert blocked(ps, b"outer1", MONDAY_9) and not blocked(ps, b"outer1", MONDAY_18)


def test_muted_weighted_phrases_and_combinations_add_nothing(tmp_path):
    weighted = write(tmp_path / "w", f"<casino><30>\n{SCHOOL}<poker><30>\n<dice>,<bet><60>\n")
    ps, _ = load_phrase_set(weighted=[weighted])
    page = b"<p>casino poker dice bet</p>"
    assert scan_bytes(phrases_at(ps, MONDAY_9), page).score == 120
    assert scan_bytes(phrases_at(ps, MONDAY_18), page).score == 30
    assert scan_bytes(ps, page).score == 120  # the set itself is untouched


def test_a_muted_single_still_counts_as_part_of_an_open_combination(tmp_path):
    weighted = write(tmp_path / "w", f"<dice>,<bet><60>\n{SCHOOL}<bet><10>\n")
    ps, _ = load_phrase_set(weighted=[weighted])
    assert scan_bytes(phrases_at(ps, MONDAY_18), b"dice bet").score == 60


def test_a_timed_exception_saves_a_page_only_in_its_window(tmp_path):
    banned = write(tmp_path / "b", "<casino>\n")
    exception = write(tmp_path / "e", f"{SCHOOL}<maths lesson>\n")
    ps, _ = load_phrase_set([banned], exception=[exception])
    page = b"<p>casino maths lesson</p>"
    assert not blocked(ps, page, MONDAY_9)
    assert blocked(ps, page, MONDAY_18)


def test_state_and_variants_follow_the_windows(tmp_path):
    ps, _ = load_phrase_set([write(tmp_path / "b", f"{SCHOOL}<a1>\n#time: 17 0 23 0 0\n<a2>\n")])
    assert phrase_state(ps, MONDAY_9) == "p10"
    assert phrase_state(ps, MONDAY_18) == "p01"
    assert phrases_at(ps, MONDAY_9) is phrases_at(ps, MONDAY_9 + timedelta(minutes=5))
    untimed, _ = load_phrase_set([write(tmp_path / "u", "<a1>\n")])
    assert phrase_state(untimed, MONDAY_9) == "" and phrases_at(untimed, MONDAY_9) is untimed


def test_a_tag_e2guardian_refuses_is_an_error_and_odd_ones_are_warnings(tmp_path):
    path = write(tmp_path / "b", "#time: 24 0 16 30 01234\n<a1>\n#time: 8 0 16 30 0189\n"
                                 "#time: 18 0 8 0 0123456\n#time: 8 0 16 30 012345678\n")
    parser = ListParser()
    parser.parse(path)
    found = [(e.line, e.level, e.message) for e in parser.errors]
    assert found[0][:2] == (1, "error") and "start hour 24 out of bounds" in found[0][2]
    assert found[1][:2] == (3, "warning") and "'89' never match" in found[1][2]
    assert found[2][:2] == (4, "warning") and "never wraps over midnight" in found[2][2]
    assert found[3][:2] == (5, "error") and "more than 7 day characters" in found[3][2]


# -- properties --------------------------------------------------------------

@given(st.integers(-5, 30), st.integers(-5, 70), st.integers(-5, 30), st.integers(-5, 70),
       st.text(alphabet="0123456789x ", max_size=9),
       st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_a_window_is_active_exactly_as_e2guardians_isnow(sh, sm, eh, em, days, moment):
    window, problems = time_window((sh, sm, eh, em), days.strip(), "t")
    if not (0 <= sh <= 23 and 0 <= eh <= 23 and 0 <= sm <= 59 and 0 <= em <= 59) \
            or len(days.strip()) > 7:
        assert window is None and problems
        return
    assert window is not None
    hour, minute = moment.hour, moment.minute
    # ListContainer::isNow, transcribed
    expected = str(moment.weekday()) in days.strip() and not (
        hour < sh or hour > eh or (hour == sh and minute < sm) or (hour == eh and minute > em))
    assert window.active(moment) == expected


@given(st.binary(max_size=40))
def test_any_time_tag_line_is_read_or_reported_never_raised(tail):
    parser = ListParser()
    parser._time_tag(Path("x"), 1, b"#time: " + tail)
    assert all(e.level in ("error", "warning") for e in parser.errors)
