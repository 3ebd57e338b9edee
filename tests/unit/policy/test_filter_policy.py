"""The composed policy as app.build_policy makes it, and the commands that
must decide as it does: ``icapfilter check`` and ``icapfilter scan``."""

from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

from icapfilter.app import build_policy
from icapfilter.cli import main
from icapfilter.config import load_config, parse_config
from icapfilter.icap.messages import Headers
from icapfilter.policy import Client, RequestInfo, ResponseInfo

HTML = ResponseInfo(200, Headers.of([("Content-Type", "text/html")]))


def req(url: str, ip: str | None = None, user: str | None = None) -> RequestInfo:
    return RequestInfo(Client(ip, user), "GET", url, Headers())


def test_phrase_lists_alone_block_no_url(tmp_path):
    (tmp_path / "weightedphraselist").write_text("<casino><60>\n")
    built = build_policy(parse_config(f'[phrases]\ndir = "{tmp_path}"\n'))
    assert not built.decide_request(req("http://any.test/")).blocked
    scan = built.begin_response(req("http://any.test/"), HTML)
    scan.feed(b"<p>casino</p>")
    assert scan.finish().blocked


def test_the_log_names_the_phrase_matcher_in_use(tmp_path, caplog):
    (tmp_path / "weightedphraselist").write_text("<casino><60>\n")
    with caplog.at_level("INFO", logger="icapfilter"):
        build_policy(parse_config(f'[phrases]\ndir = "{tmp_path}"\n'))
    engine = "ahocorasick-rs" if importlib.util.find_spec("ahocorasick_rs") else "pyahocorasick"
    assert any(f"matcher {engine}" in r.getMessage() for r in caplog.records)


@pytest.fixture
def configured(tmp_path):
    bl = tmp_path / "bl"
    for category, domains in (("adult", "porn.test\n"), ("games", "games.test\n")):
        (bl / category).mkdir(parents=True)
        (bl / category / "domains").write_text(domains)
    (bl / "news").mkdir()
    (bl / "news" / "urls").write_text("porn.test/news\n")
    (bl / "exceptionsitelist").write_text("safe.porn.test\n")
    lists = tmp_path / "phrases"
    lists.mkdir()
    (lists / "bannedphraselist").write_text("<badword>\n")
    conf = tmp_path / "icapfilter.conf"
    conf.write_text(
        f'[lists]\npaths = ["{bl}"]\n'
        f'[phrases]\ndir = "{lists}"\nmax_scan_bytes = 1000\n'
        '[[groups]]\nname = "kids"\nclients = ["10.0.0.0/8"]\nblock = ["*"]\n'
        '[[groups]]\nname = "staff"\nclients = ["user:boss"]\nblock = ["adult"]\n'
        'allow = ["news"]\n'
        '[[groups]]\nname = "default"\nblock = ["adult"]\n')
    return conf


CLIENTS = [("10.1.2.3", None), (None, "boss"), ("192.0.2.1", None)]
URLS = ["http://porn.test/x", "http://porn.test/news/today", "http://safe.porn.test/",
        "http://games.test/", "http://clean.test/", "http://1.2.3.4.5/"]


@pytest.mark.parametrize("ip,user", CLIENTS)
def test_check_decides_every_url_as_the_server_does(configured, ip, user):
    policy = build_policy(load_config(configured))
    args = ["check", *URLS, "--config", str(configured), "--json"]
    args += ["--client-ip", ip] if ip else []
    args += ["--user", user] if user else []
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    for url, line in zip(URLS, result.stdout.splitlines(), strict=True):
        checked = json.loads(line)
        server = policy.decide_request(req(url, ip, user))
        assert checked["verdict"] == server.action.value, url
        assert checked["group"] == server.group, url
        if server.blocked or server.entry:
            assert (checked["category"], checked["entry"]) == (server.category, server.entry)


def test_scan_takes_the_configured_settings_as_the_server_does(configured, tmp_path):
    # the banned word lies past [phrases] max_scan_bytes: neither may see it
    page = tmp_path / "page.html"
    body = b"<p>" + b"filler " * 300 + b"badword</p>"
    page.write_bytes(body)
    result = CliRunner().invoke(main, ["scan", str(page), "--config", str(configured), "--json"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    scan = build_policy(load_config(configured)).begin_response(req("http://clean.test/"), HTML)
    scan.feed(body)
    server = scan.finish()
    assert cli["verdict"] == server.action.value == "allow"
    assert cli["bytes_scanned"] == server.bytes_scanned == 1000
