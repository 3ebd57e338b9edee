"""Schedules: what a group blocks depends on the moment the policy is asked at,
and no cache answers across a schedule change."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from icapfilter.cli import main
from icapfilter.config import GroupConfig, parse_config
from icapfilter.config.checks import ConfigError
from icapfilter.icap.messages import Headers
from icapfilter.learned import MemoryLearnedCache
from icapfilter.phrases import load_phrase_set
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.policy.groups import Group
from icapfilter.policy.schedule import group_at, local_clock
from tests.policyfixtures import make_policy

MONDAY_CLASS = datetime(2026, 12, 7, 9, 30)
MONDAY_LUNCH = datetime(2026, 12, 7, 12, 30)
SATURDAY = datetime(2026, 12, 12, 10, 0)
HTML = ResponseInfo(200, Headers.of([("Content-Type", "text/html")]))

SCHOOL_HOURS = {"days": "mon-fri", "hours": ["08:00-12:00", "13:00-16:30"],
                "block": ["games"]}


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def req(url: str) -> RequestInfo:
    return RequestInfo(Client("10.0.0.1", None), "GET", url, Headers())


def pupils(*schedule: dict, block=("adult",)) -> GroupConfig:
    return GroupConfig(name="default", block=list(block), schedule=list(schedule))


def test_a_rule_blocks_its_categories_only_while_it_applies(store):
    clock = Clock(MONDAY_CLASS)
    policy = make_policy([pupils(SCHOOL_HOURS)], store, clock=clock)
    assert policy.decide_request(req("http://games.test/")).blocked
    clock.now = MONDAY_LUNCH
    assert not policy.decide_request(req("http://games.test/")).blocked
    clock.now = SATURDAY
    assert not policy.decide_request(req("http://games.test/")).blocked
    assert policy.decide_request(req("http://porn.test/")).blocked  # the group's own block


def test_the_url_decision_cache_does_not_carry_a_verdict_over_a_schedule_change(store):
    clock = Clock(MONDAY_CLASS)
    policy = make_policy([pupils(SCHOOL_HOURS)], store, clock=clock)
    assert policy.decide_request(req("http://games.test/")).blocked
    clock.now = MONDAY_LUNCH
    assert not policy.decide_request(req("http://games.test/")).blocked
    assert policy.urls.engine is not None and policy.urls.engine.cache_hits >= 1


def test_unblock_lifts_a_block_and_star_lifts_them_all():
    base = Group.from_config(pupils({"days": "sat-sun", "unblock": ["games"]},
                                    block=("adult", "games")))
    assert base.blocks("games")
    weekend = group_at(base, SATURDAY)
    assert not weekend.blocks("games") and weekend.blocks("adult")
    every = Group.from_config(pupils({"days": "*", "hours": "16:30-24:00", "unblock": ["*"]},
                                     block=("*",)))
    evening = group_at(every, datetime(2026, 12, 7, 18, 0))
    assert not evening.blocks("adult") and not evening.blocks("games")
    assert group_at(every, MONDAY_CLASS).blocks("adult")


def test_active_rules_add_up_block_beats_unblock_and_the_lowest_limit_wins():
    group = Group.from_config(pupils(
        {"days": "mon", "unblock": ["games"], "naughtiness_limit": 80},
        {"hours": "09:00-10:00", "block": ["games", "chat"], "allow": ["news"],
         "naughtiness_limit": 40},
        block=("adult", "games")))
    now = group_at(group, MONDAY_CLASS)
    assert now.blocks("games") and now.blocks("chat") and now.allows("news")
    assert now.limit == 40 and now.timed == "s0,1"
    later = group_at(group, MONDAY_CLASS.replace(hour=11))
    assert not later.blocks("games") and later.limit == 80 and later.timed == "s0"
    assert group_at(group, SATURDAY) is group


def test_check_answers_for_the_moment_it_is_asked_about(store):
    policy = make_policy([pupils(SCHOOL_HOURS)], store, clock=Clock(SATURDAY))
    client = Client("10.0.0.1", None)
    assert policy.url_report(client, "http://games.test/", MONDAY_CLASS).verdict.blocked
    assert policy.url_report(client, "http://games.test/").verdict is None


def test_a_learned_verdict_is_not_answered_under_other_rules(tmp_path):
    (tmp_path / "weighted").write_text("<casino><30>\n")
    phrases, _ = load_phrase_set(weighted=[tmp_path / "weighted"])
    clock = Clock(MONDAY_CLASS)
    strict = {"days": "mon-fri", "hours": "08:00-12:00", "naughtiness_limit": 20}
    policy = make_policy([pupils(strict)], phrases=phrases, learned=MemoryLearnedCache(),
                         clock=clock)
    scan = policy.begin_response(req("http://page.test/"), HTML)
    scan.feed(b"<p>casino</p>")
    assert scan.finish().blocked  # 30 > 20 in class
    clock.now = MONDAY_LUNCH
    answer = policy.begin_response(req("http://page.test/"), HTML)
    assert hasattr(answer, "feed"), "the page learned blocked in class must be scanned again"
    answer.feed(b"<p>casino</p>")
    assert not answer.finish().blocked  # 30 <= 50 at lunch
    clock.now = MONDAY_CLASS
    again = policy.begin_response(req("http://page.test/"), HTML)
    assert not hasattr(again, "feed") and again.blocked  # learned under the class rules


def test_without_schedules_the_clock_is_never_read(store):
    def clock() -> datetime:
        raise AssertionError("read")

    policy = make_policy([pupils()], store, clock=clock)
    assert policy.decide_request(req("http://porn.test/")).blocked


def test_config_check_names_the_group_and_entry_of_a_bad_rule():
    text = ('[[groups]]\nname = "default"\n'
            '[[groups.schedule]]\ndays = "mon-fri"\nblock = ["games"]\n'
            '[[groups.schedule]]\nhours = "16:30-08:00"\nblock = ["games"]\n')
    with pytest.raises(ConfigError, match=r"\[\[groups\]\] #1: schedule #2: hours"):
        parse_config(text)


def test_a_schedule_and_a_time_zone_are_read_from_the_file():
    config = parse_config('[server]\ntimezone = "Europe/Paris"\n[[groups]]\nname = "default"\n'
                          '[[groups.schedule]]\ndays = "mtwhf"\nblock = ["games"]\n')
    assert config.groups[0].schedule == [{"days": "mtwhf", "block": ["games"]}]
    assert config.server.timezone == "Europe/Paris"
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        parse_config('[server]\ntimezone = "Mars/Olympus"\n')


def test_the_clock_of_a_time_zone_is_its_wall_clock():
    tokyo, utc = local_clock("Asia/Tokyo")(), local_clock("UTC")()
    assert abs((tokyo - utc).total_seconds() - 9 * 3600) < 60


@pytest.mark.parametrize(("utc", "active"), [
    ("2026-03-29 00:59", False),  # 01:59 CET, then clocks go forward to 03:00 CEST
    ("2026-03-29 01:00", False),  # 03:00 CEST: 02:00-03:00 never was that night
    ("2026-10-25 00:30", True),   # 02:30 CEST
    ("2026-10-25 01:30", True),   # 02:30 CET again, an hour later: the wall clock decides
    ("2026-10-25 02:00", False),  # 03:00 CET
])
def test_at_a_daylight_saving_change_the_wall_clock_decides(monkeypatch, utc, active):
    from datetime import UTC

    from icapfilter.policy import schedule

    instant = datetime.fromisoformat(utc).replace(tzinfo=UTC)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
            return instant.astimezone(tz)

    monkeypatch.setattr(schedule, "datetime", Frozen)
    group = Group.from_config(GroupConfig(block=[], schedule=[
        {"hours": "02:00-03:00", "block": ["games"]}]))
    assert group_at(group, local_clock("Europe/Paris")()).blocks("games") is active


# -- the commands --------------------------------------------------------------

def _school_config(tmp_path):
    bl = Path(tmp_path) / "bl"
    (bl / "games").mkdir(parents=True)
    (bl / "games" / "domains").write_text("games.test\n")
    phrases = Path(tmp_path) / "phrases"
    phrases.mkdir()
    (phrases / "weightedphraselist").write_text("<always><20>\n#time: 8 0 16 30 01234\n"
                                                "<poker><40>\n")
    conf = Path(tmp_path) / "icapfilter.conf"
    conf.write_text(f'[lists]\npaths = ["{bl}"]\n[phrases]\ndir = "{phrases}"\n'
                    '[[groups]]\nname = "default"\nblock = []\n'
                    '[[groups.schedule]]\ndays = "mon-fri"\nhours = "08:00-16:30"\n'
                    'block = ["games"]\nnaughtiness_limit = 30\n')
    page = Path(tmp_path) / "page.html"
    page.write_text("<p>always poker</p>")
    return conf, page


def test_check_at_answers_for_that_moment_and_says_which(tmp_path):
    conf, _ = _school_config(tmp_path)
    runner = CliRunner()
    during = runner.invoke(main, ["check", "http://games.test/", "--config", str(conf),
                                  "--at", "2026-12-07 09:30", "--json"])
    after = runner.invoke(main, ["check", "http://games.test/", "--config", str(conf),
                                 "--at", "2026-12-07 17:00", "--json"])
    assert json.loads(during.output)["verdict"] == "block"
    assert json.loads(during.output)["at"] == "2026-12-07 09:30:00"
    assert json.loads(after.output)["verdict"] == "allow"
    bad = runner.invoke(main, ["check", "http://games.test/", "--config", str(conf),
                               "--at", "at nine"])
    assert bad.exit_code == 2 and "like '2026-12-07 09:30'" in bad.output


def test_scan_at_applies_time_tags_and_the_scheduled_limit(tmp_path):
    conf, page = _school_config(tmp_path)
    runner = CliRunner()
    during = json.loads(runner.invoke(main, ["scan", str(page), "--config", str(conf),
                                             "--at", "2026-12-07 09:30", "--json"]).output)
    after = json.loads(runner.invoke(main, ["scan", str(page), "--config", str(conf),
                                            "--at", "2026-12-07 17:00", "--json"]).output)
    assert (during["score"], during["limit"], during["verdict"]) == (60, 30, "block")
    assert (after["score"], after["limit"], after["verdict"]) == (20, 50, "allow")


def test_a_scheduled_group_is_built_once_per_state_not_per_request(store):
    policy = make_policy([pupils(SCHOOL_HOURS)], store, clock=Clock(MONDAY_CLASS))
    client = Client("10.0.0.1", None)
    first = policy._group(client, MONDAY_CLASS)
    assert policy._group(client, MONDAY_CLASS.replace(minute=45)) is first
    assert policy._group(client, MONDAY_LUNCH) is not first
