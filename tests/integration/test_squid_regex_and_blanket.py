"""Regex URL lists and blanket blocks through a real Squid: `icapfilter serve`
with a UT1 ``expressions`` file, e2guardian regex lists and a ``**``
(whitelist only) bannedsitelist, for both list stores; and a group's own
``blanket = "ip"``."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from tests.icapserver import redis_with_lists, serving
from tests.squidserver import Squid

pytestmark = [pytest.mark.integration, pytest.mark.squid]

HOSTS = ("news.example.test", "school.example.test", "files.example.test")


def write_tree(root):
    files = {
        "ut1/adult/domains": "blocked.example.test\n",
        "ut1/adult/expressions": "(^|[-?+=/_.])(porn|xxx)([-?+=/_.]|$)\n",
        "e2g/bannedsitelist": '#listcategory: "whitelist only"\n**\n',
        "e2g/exceptionsitelist": "school.example.test\nnews.example.test\n",
        "e2g/bannedregexpurllist": '#listcategory: "downloads"\n/page/[0-9]+/setup\\.exe$\n',
        "e2g/exceptionregexpurllist": "^clean\\.example\\.test/page/7[0-9]*$\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "ut1", root / "e2g"


@pytest.fixture(scope="module", params=["memory", "redis"])
def squid(request, tmp_path_factory, origin):
    root = tmp_path_factory.mktemp("rules")
    trees = write_tree(root)
    with ExitStack() as running:
        store, paths = "", ", ".join(f'"{t}"' for t in trees)
        if request.param == "redis":
            redis = running.enter_context(redis_with_lists(*trees))
            store, paths = f'redis = "{redis.url}"', ""
        config = root / "icapfilter.toml"
        config.write_text(f"""
[store]
{store}
[lists]
paths = [{paths}]

[[groups]]
name = "default"
block = ["*"]
""")
        port = running.enter_context(serving(config))
        yield running.enter_context(Squid(port, hosts=HOSTS)), origin


def test_a_regex_of_an_expressions_file_blocks(squid):
    proxy, origin = squid
    got = proxy.get(origin.url("school.example.test", "/page/100/free-porn"))
    # the exception site beats the pattern; an unlisted host would be blanket-blocked
    assert got.status == 200
    got = proxy.get(origin.url("clean.example.test", "/page/100/porn"))
    assert got.status == 403 and b"adult" in got.body


def test_a_bannedregexpurllist_pattern_blocks(squid):
    proxy, origin = squid
    got = proxy.get(origin.url("www.example.test", "/page/10/SETUP.exe"))
    assert got.status == 403 and b"downloads" in got.body  # named before the blanket block
    got = proxy.get(origin.url("www.example.test", "/page/10/readme.txt"))
    assert got.status == 403 and b"downloads" not in got.body


def test_whitelist_only_blocks_every_other_site(squid):
    proxy, origin = squid
    got = proxy.get(origin.url("www.example.test", "/page/100"))
    assert got.status == 403
    assert proxy.connect("www.example.test:443") == 403


def test_an_exception_regex_allows_despite_the_blanket_block(squid):
    proxy, origin = squid
    assert proxy.get(origin.url("clean.example.test", "/page/70")).status == 200
    assert proxy.get(origin.url("clean.example.test", "/page/100")).status == 403


@pytest.fixture(scope="module")
def ip_blanket(tmp_path_factory, origin):
    root = tmp_path_factory.mktemp("ipblanket")
    (root / "adult").mkdir()
    (root / "adult" / "domains").write_text("blocked.example.test\n")
    config = root / "icapfilter.toml"
    config.write_text(f"""
[lists]
paths = ["{root / 'adult'}"]

[[groups]]
name = "default"
block = ["adult"]
blanket = "ip"
""")
    with serving(config) as port, Squid(port) as proxy:
        yield proxy, origin


def test_a_group_blanket_ip_blocks_raw_addresses_only(ip_blanket):
    proxy, origin = ip_blanket
    got = proxy.get(origin.url("127.0.0.1", "/page/100"))
    assert got.status == 403 and b"raw IP address" in got.body
    assert proxy.get(origin.url("www.example.test", "/page/100")).status == 200
