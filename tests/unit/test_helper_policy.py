"""A squid-helper child builds no phrase lists unless a question needs them."""

from __future__ import annotations

from icapfilter.config import parse_config
from icapfilter.helperpolicy import HelperPolicy, helper_policy, without_phrases
from icapfilter.policy import AllowAll, Client, RequestInfo
from icapfilter.squidhelper import answer

LISTS = '[lists]\npaths = ["/nonexistent"]\n[phrases]\ndir = "/etc/e2guardian/lists"\n'
GROUPS = ('[[groups]]\nname = "a"\nclients = ["10.0.0.0/8"]\nphrase_dir = "/p"\n'
          '[[groups]]\nname = "default"\n')
LEARNED = '[store]\nredis = "redis://127.0.0.1:1/0"\n[learned]\nttl = 60\n'


class Built:
    """Records the configurations build_policy was called with."""

    def __init__(self) -> None:
        self.configs: list = []

    def __call__(self, config):  # type: ignore[no-untyped-def]
        self.configs.append(config)
        return AllowAll()


def test_without_learned_mode_the_helper_never_builds_phrase_lists():
    build = Built()
    policy = helper_policy(parse_config(LISTS + GROUPS), build)
    assert isinstance(policy, AllowAll)
    (config,) = build.configs
    assert not config.phrases.configured
    assert not any(g.own_phrases for g in config.groups)
    assert [g.name for g in config.groups] == ["a", "default"]
    assert config.groups[0].clients == ["10.0.0.0/8"]


def test_learned_clean_questions_build_the_full_policy_once():
    build = Built()
    policy = helper_policy(parse_config(LISTS + LEARNED), build)
    assert isinstance(policy, HelperPolicy) and len(build.configs) == 1
    answer(policy, b"1 10.0.0.5 - http://a.test/ -")  # blocked: lean
    assert len(build.configs) == 1
    answer(policy, b"2 10.0.0.5 - http://a.test/ learned-clean")
    answer(policy, b"3 10.0.0.5 - http://a.test/ learned-clean")
    assert len(build.configs) == 2 and build.configs[1].phrases.configured


def test_with_mark_requests_blocked_questions_need_the_full_policy():
    build = Built()
    policy = helper_policy(parse_config(LISTS + LEARNED + "mark_requests = true\n"), build)
    info = RequestInfo(client=Client("10.0.0.5", None), method="GET", url="http://a.test/",
                       headers={})  # type: ignore[arg-type]
    policy.decide_request(info)
    assert len(build.configs) == 2


def test_the_phrase_free_configuration_keeps_everything_else():
    config = parse_config(LISTS + LEARNED + GROUPS)
    lean = without_phrases(config)
    assert lean.lists == config.lists and lean.store == config.store
    assert lean.learned == config.learned
