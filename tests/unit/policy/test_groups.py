"""A client's filter group: user name first, then the most specific network."""

from __future__ import annotations

import pytest

from icapfilter.config import GroupConfig
from icapfilter.policy import Client
from icapfilter.policy.groups import EVERY_LIST_BLOCKS, GroupMap
from tests.unit.policy.conftest import GROUPS


@pytest.mark.parametrize("ip,user,group", [
    ("10.2.3.4", None, "kids"),
    ("10.1.3.4", None, "teachers"),       # most specific network wins
    ("10.2.3.4", "Alice", "teachers"),    # user name beats the network
    ("192.0.2.1", None, "default"),
    (None, None, "default"),
    ("not-an-ip", None, "default"),
    ("fe80::1%eth0", None, "default"),
    ("::ffff:10.2.3.4", None, "kids"),    # an IPv4 client as an IPv6 socket shows it
])
def test_clients_map_to_groups(ip, user, group):
    assert GroupMap(GROUPS).match(Client(ip, user)).name == group


def test_the_most_specific_network_wins_whatever_the_order_and_ties_go_to_the_first_group():
    groups = GroupMap([GroupConfig(name="wide", clients=["10.0.0.0/8", "2001:db8::/32"]),
                       GroupConfig(name="lab", clients=["10.1.2.0/24", "2001:db8:1::/48"]),
                       GroupConfig(name="twin", clients=["10.1.2.0/24"])])
    assert groups.match(Client("10.1.2.3")).name == "lab"
    assert groups.match(Client("10.9.9.9")).name == "wide"
    assert groups.match(Client("2001:db8:1::5")).name == "lab"
    assert groups.match(Client("2001:db8:2::5")).name == "wide"


def test_without_a_group_named_default_the_first_unassigned_one_is_the_default():
    groups = GroupMap([GroupConfig(name="lab", clients=["10.0.0.0/8"]),
                       GroupConfig(name="rest"), GroupConfig(name="other")])
    assert groups.default.name == "rest"
    assert GroupMap([GroupConfig(name="lab", clients=["10.0.0.0/8"])]).default.name == "lab"


def test_allowed_categories_never_block():
    group = GroupMap(GROUPS).named("default")
    assert group is not None
    assert group.blocks("adult") and not group.blocks("games")
    assert group.allows("news") and not group.blocks("news")
    kids = GroupMap([GroupConfig(name="k", block=["*"], allow=["news"])]).default
    assert kids.blocks("anything") and not kids.blocks("news")


def test_named_finds_a_group_or_none():
    assert GroupMap(GROUPS).named("kids").name == "kids"
    assert GroupMap(GROUPS).named("nosuch") is None


def test_without_a_configuration_every_list_blocks():
    assert EVERY_LIST_BLOCKS.name == "default"
    assert EVERY_LIST_BLOCKS.blocks("porn") and not EVERY_LIST_BLOCKS.allow


# -- where the group comes from: Squid's header > user file > user: > address ------

STAFF_PUPILS = [GroupConfig(name="pupils", clients=["10.0.0.0/8"], block=["*"]),
                GroupConfig(name="staff", clients=["user:inline", "user:both"], block=["adult"]),
                GroupConfig(name="default", block=["*"])]


@pytest.mark.parametrize("client,group", [
    (Client("10.1.1.1", "filed", "staff"), "staff"),     # Squid's header beats all
    (Client("10.1.1.1", "inline", "Staff"), "staff"),    # a name in another case
    (Client("10.1.1.1", "inline", "nosuch, staff"), "staff"),  # a note list: first known
    (Client("10.1.1.1", "filed", None), "default"),      # the file beats the address
    (Client("10.1.1.1", "both", None), "pupils"),        # ... and a user: entry
    (Client("10.1.1.1", "inline", None), "staff"),       # user:NAME beats the address
    (Client("10.1.1.1", "other", None), "pupils"),       # then the address
    (Client("10.1.1.1", "filed", "nosuch"), "default"),  # unknown in the header: ignored
    (Client("10.1.1.1", None, "-"), "pupils"),           # Squid's "-" for an empty value
])
def test_the_group_squid_names_comes_first_then_the_user_file(client, group):
    groups = GroupMap(STAFF_PUPILS, file_users={"filed": "default", "both": "pupils"})
    assert groups.match(client).name == group


def test_the_header_is_ignored_when_not_trusted():
    groups = GroupMap(STAFF_PUPILS, trust_header=False)
    assert groups.match(Client("10.1.1.1", None, "staff")).name == "pupils"


def test_an_unknown_group_in_the_header_is_logged_once(caplog):
    groups = GroupMap(STAFF_PUPILS)
    for _ in range(3):
        groups.match(Client(None, None, "teachers"))
    assert [r.getMessage() for r in caplog.records].count(
        "X-Icapfilter-Group 'teachers' names no configured group; the client is placed "
        "by user and address instead") == 1


def test_an_alias_in_block_or_allow_stands_for_its_category():
    groups = GroupMap([GroupConfig(name="default", block=["porn"], allow=["jeux"])],
                      aliases={"porn": "adult", "jeux": "games"})
    assert groups.default.blocks("adult") and groups.default.blocks("porn")
    assert groups.default.allows("games") and not groups.default.blocks("games")


def test_a_group_the_user_file_fills_is_not_taken_for_the_default():
    groups = GroupMap([GroupConfig(name="staff", block=[]), GroupConfig(name="pupils")],
                      file_users={"alice": "staff"})
    assert groups.default.name == "pupils"
