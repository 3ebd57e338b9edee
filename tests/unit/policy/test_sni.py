"""A CONNECT is judged by the TLS server name (SNI) Squid peeked at as well as
by the host it names: a client that asks for an IP, or for an allowed front
domain, with the SNI of a listed site is refused."""

from __future__ import annotations

import pytest

from icapfilter.config import GroupConfig
from icapfilter.icap.messages import Headers
from icapfilter.policy import Client, RequestInfo
from icapfilter.policy.url_verdict import sni_target
from icapfilter.urls.loader import load_lists
from icapfilter.urls.memory_store import MemoryStore
from tests.policyfixtures import make_policy


@pytest.fixture
def policy(tmp_path):
    (tmp_path / "adult").mkdir()
    (tmp_path / "adult" / "domains").write_text("blocked.test\nbücher.test\n")
    (tmp_path / "exceptionsitelist").write_text("ok.blocked.test\n10.9.9.9\n")
    store = MemoryStore()
    load_lists(store, [tmp_path])
    return make_policy([GroupConfig(name="default", block=["adult"])], store)


def connect(target: str, sni: str | None, method: str = "CONNECT") -> RequestInfo:
    return RequestInfo(Client("127.0.0.1"), method, target, Headers(), sni=sni)


@pytest.mark.parametrize("sni", ["blocked.test", "www.blocked.test", "BLOCKED.test.",
                                 "xn--bcher-kva.test"])
def test_connect_to_an_ip_with_the_sni_of_a_listed_site_is_refused(policy, sni):
    verdict = policy.decide_request(connect("192.0.2.7:443", sni))
    assert verdict.blocked and verdict.category == "adult"
    assert "TLS server name" in verdict.reason


def test_an_allowed_front_domain_does_not_hide_a_listed_sni(policy):
    assert policy.decide_request(connect("allowed.test:443", "blocked.test")).blocked


def test_an_exception_on_the_connect_target_does_not_let_a_listed_sni_through(policy):
    assert policy.decide_request(connect("10.9.9.9:443", "blocked.test")).blocked


@pytest.mark.parametrize("target,sni", [
    ("192.0.2.7:443", "allowed.test"),
    ("192.0.2.7:443", "-"),            # Squid's value when the client sent no SNI
    ("192.0.2.7:443", None),           # no adaptation_meta line
    ("192.0.2.7:443", "ok.blocked.test"),  # an exception inside a listed domain
])
def test_connect_with_an_unlisted_or_missing_sni_passes(policy, target, sni):
    assert not policy.decide_request(connect(target, sni)).blocked


def test_a_listed_connect_target_stays_refused_whatever_the_sni(policy):
    assert policy.decide_request(connect("blocked.test:443", "allowed.test")).blocked


def test_sni_is_ignored_on_anything_but_connect(policy):
    assert not policy.decide_request(
        connect("https://allowed.test/", "blocked.test", method="GET")).blocked


def test_unparseable_sni_fails_closed(policy):
    verdict = policy.decide_request(connect("192.0.2.7:443", "bad host"))
    assert verdict.blocked


@pytest.mark.parametrize("target,sni,expected", [
    ("192.0.2.7:443", "a.test", "a.test:443"),
    ("192.0.2.7:8443", "a.test", "a.test:8443"),
    ("[2001:db8::1]:443", "a.test", "a.test:443"),
    ("a.test:443", "A.test", None),      # the same name: judged once
    ("a.test", "b.test", "b.test:443"),  # no port in the target
    ("a.test:443", " - ", None),
    ("192.0.2.7:\u00b9\u00b2", "a.test", "a.test:443"),  # superscripts are no port
])
def test_sni_target(target, sni, expected):
    assert sni_target(connect(target, sni)) == expected
