"""Several filter servers sharing one Redis switch list generations together."""

from __future__ import annotations

import pytest

from icapfilter.app import build_policy
from icapfilter.config import parse_config
from icapfilter.redisstore.single import RedisStore
from icapfilter.urls.loader import load_lists
from tests.icapserver import IcapClient, reqmod, running_server
from tests.polling import wait_until
from tests.redisserver import redis_available, redis_server

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def write(root, name, domains):
    folder = root / name / "adult"
    folder.mkdir(parents=True)
    (folder / "domains").write_text("\n".join(domains) + "\n")
    return root / name


def options_istag(port):
    with IcapClient(port) as c:
        return c.transact(b"OPTIONS icap://x/reqmod ICAP/1.0\r\nHost: x\r\n\r\n").headers["istag"]


def blocked(port, url):
    with IcapClient(port) as c:
        return c.transact(reqmod(url)).http_status == 403


def test_two_servers_switch_generation_together(tmp_path):
    if not redis_available():
        pytest.skip("redis-server not installed")
    with redis_server(tmp_path / "redis") as redis:
        store = RedisStore(redis.url)
        load_lists(store, [write(tmp_path, "one", ["first.test"])])
        config = parse_config(f'[store]\nredis = "{redis.url}"\n')
        with running_server(build_policy(config)) as a, running_server(build_policy(config)) as b:
            ports = [a.server_address[1], b.server_address[1]]
            tags = [options_istag(p) for p in ports]
            assert tags[0] == tags[1]
            assert all(blocked(p, "http://first.test/") for p in ports)
            assert not any(blocked(p, "http://second.test/") for p in ports)

            load_lists(store, [write(tmp_path, "two", ["second.test"])])
            def switched() -> list[tuple[str, bool, bool]] | None:
                states = [(options_istag(p), blocked(p, "http://second.test/"),
                           blocked(p, "http://first.test/")) for p in ports]
                return states if all(s[1] and not s[2] for s in states) else None

            states = wait_until(switched, timeout=5, interval=0.1)
            assert states[0][0] == states[1][0] != tags[0]
