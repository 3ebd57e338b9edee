"""A group's own blanket block (``blanket = "all"`` / ``"ip"`` / ``"tunnel"``
/ ``"tunnel-ip"``): exception lists and allowed categories still win."""

from __future__ import annotations

import pytest

from icapfilter.config import ConfigError, GroupConfig, load_config
from icapfilter.icap.messages import Headers
from icapfilter.policy import Client, RequestInfo
from icapfilter.urls.memory_store import MemoryStore
from tests.policyfixtures import make_policy

PUPILS = GroupConfig(name="pupils", clients=["10.0.0.0/8"], block=["adult"], allow=["news"],
                     blanket="all")
LAB = GroupConfig(name="lab", clients=["10.9.0.0/16"], block=["adult"], blanket="ip")
DEFAULT = GroupConfig(name="default", block=["adult"])


def decide(store: MemoryStore | None, ip: str, url: str, method: str = "GET"):
    policy = make_policy([PUPILS, LAB, DEFAULT], store)
    return policy.decide_request(RequestInfo(Client(ip, None), method, url, Headers()))


@pytest.mark.parametrize(("ip", "url", "blocked", "reason"), [
    ("10.0.0.5", "http://unlisted.example/", True, "blanket block: only exceptions are allowed"),
    ("10.0.0.5", "unlisted.example:443", True, "blanket block: only exceptions are allowed"),
    ("10.0.0.5", "http://safe.porn.test/", False, "exception list exceptionsitelist"),
    ("10.0.0.5", "http://games.test/news/today", False, "exception list news"),  # allowed
    ("10.0.0.5", "http://porn.test/", True, "listed in adult"),  # the list names itself first
    ("10.9.0.5", "http://203.0.113.7/", True, "blanket block: raw IP address"),
    ("10.9.0.5", "http://unlisted.example/", False, None),
    ("192.0.2.1", "http://unlisted.example/", False, None),
])
def test_a_group_blanket_blocks_what_no_exception_allows(
        store: MemoryStore, ip: str, url: str, blocked: bool, reason: str | None) -> None:
    verdict = decide(store, ip, url)
    assert verdict.blocked is blocked
    if reason is not None:
        assert verdict.reason == reason
    if blocked and reason and reason.startswith("blanket"):
        assert verdict.category == "blanket"


def test_a_group_blanket_works_without_any_list() -> None:
    assert decide(None, "10.0.0.5", "http://unlisted.example/").blocked
    assert not decide(None, "192.0.2.1", "http://unlisted.example/").blocked


def test_check_names_the_group_setting(store: MemoryStore) -> None:
    policy = make_policy([PUPILS, DEFAULT], store)
    report = policy.url_report(Client("10.0.0.5", None), "http://unlisted.example/")
    assert report.ruling is not None
    assert (report.ruling.hit.entry, report.ruling.hit.source) == (
        "**", "group pupils: blanket = 'all'")


def test_an_unknown_blanket_value_is_a_config_error(tmp_path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[[groups]]\nname = "default"\nblanket = "everything"\n')
    with pytest.raises(ConfigError, match="blanket: 'everything' is not one of 'all', 'ip'"):
        load_config(conf)
    conf.write_text('[[groups]]\nname = "default"\nblanket = "ip"\n')
    assert load_config(conf).groups[0].blanket == "ip"
