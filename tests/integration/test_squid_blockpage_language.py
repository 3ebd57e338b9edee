"""The block page through a real Squid speaks the browser's language: Squid
passes the client's Accept-Language to REQMOD (a listed URL) and, in the
encapsulated request, to RESPMOD (a banned phrase)."""

from __future__ import annotations

import pytest

from tests.icapserver import TestPolicy, running_server
from tests.squidserver import Squid

pytestmark = [pytest.mark.integration, pytest.mark.squid]


@pytest.fixture(scope="module")
def squid(origin):
    with running_server(TestPolicy(generation="lang")) as icap, \
            Squid(icap.server_address[1]) as proxy:
        yield proxy, origin


@pytest.mark.parametrize("path", ["/page/100", "/bad/2000"])
def test_a_french_browser_gets_the_french_block_page(squid, path):
    proxy, origin = squid
    host = "blocked.example.test" if path.startswith("/page") else "clean.example.test"
    got = proxy.get(origin.url(host, path), headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert got.status == 403, proxy.log()
    body = got.body.decode("utf-8")
    assert '<html lang="fr">' in body and "L’accès à cette page a été refusé" in body


def test_a_browser_without_a_preference_gets_english(squid):
    proxy, origin = squid
    got = proxy.get(origin.url("blocked.example.test", "/page/100"))
    assert got.status == 403
    assert b'<html lang="en">' in got.body


def test_german_is_chosen_by_weight(squid):
    proxy, origin = squid
    got = proxy.get(origin.url("blocked.example.test", "/page/100"),
                    headers={"Accept-Language": "fr;q=0.4, de;q=0.8, en;q=0.2"})
    assert b'<html lang="de">' in got.body
