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
])
def test_clients_map_to_groups(ip, user, group):
    assert GroupMap(GROUPS).match(Client(ip, user)).name == group


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
