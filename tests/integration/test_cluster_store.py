"""The Redis store on a real three-master Redis Cluster (issue 7, scale-out).

The matching and reload suites written for MemoryStore and RedisStore are
imported and run here against :class:`ClusterStore` (this module's ``store``
fixture overrides theirs): same semantics required. The tests below them check
what is specific to a cluster: buckets spread over the masters, one round trip
per node, the pointer re-check and the grace time, two servers switching
together, a cluster that is down.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from icapfilter.app import build_policy, make_store
from icapfilter.config import parse_config
from icapfilter.redisstore.client import parse_cluster_url
from icapfilter.redisstore.cluster import ClusterStore
from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.errors import StoreUnavailable
from icapfilter.urls.loader import load_lists
from tests.icapserver import IcapClient, reqmod, running_server
from tests.integration.urls.test_reload_concurrency import (  # noqa: F401 - run here too
    test_lookups_never_see_a_mix_or_nothing,
)
from tests.polling import wait_until
from tests.redisserver import RedisClusterServers, cluster_available, free_port
from tests.unit.urls.test_matching import (  # noqa: F401 - the shared suite, run here too
    engine,
    loaded,
    test_bad_lines_activate_the_rest_but_strict_refuses,
    test_failed_load_corrupt_archive_keeps_old,
    test_failed_load_missing_file_keeps_old,
    test_failed_load_no_entries_keeps_old,
    test_invalid_url_raises,
    test_matching_rules,
    test_most_specific_first,
    test_nothing_loaded_matches_nothing,
    test_reload_switches_and_invalidates_cache,
    test_report_counts,
)
from tests.urlfixtures import write_tree  # noqa: F401 - the shared list-tree fixture

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.timeout(90)]

GRACE = 2.0
"""Short enough for tests, long enough that a busy test machine's lookups are trusted
(a pipeline slower than GRACE / 2 is redone)."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    if not cluster_available():
        pytest.skip("redis-server / redis-cli not installed")
    with RedisClusterServers(tmp_path_factory.mktemp("cluster")) as servers:
        yield servers


@pytest.fixture
def store(cluster: RedisClusterServers) -> Iterator[ClusterStore]:
    """Overrides the shared suites' fixture: every imported test runs on the cluster."""
    cluster.flushall()
    store = ClusterStore(cluster.url, grace=GRACE)
    yield store
    store.wait_for_drops(timeout=GRACE + 5)


def domains_tree(root: Path, name: str, domains: list[str]) -> Path:
    folder = root / name / "adult"
    folder.mkdir(parents=True)
    (folder / "domains").write_text("".join(f"{d}\n" for d in domains))
    return root / name


def keys_of(cluster: RedisClusterServers, generation: str) -> list[int]:
    """Bucket keys of a generation on each master."""
    counts = []
    for client in cluster.clients():
        counts.append(sum(1 for _ in client.scan_iter(match=f"icapfilter:bl:g:{generation}:*",
                                                      count=1000)))
        client.close()
    return counts


def test_bucket_keys_spread_over_every_master(store: ClusterStore, cluster, tmp_path) -> None:
    report = load_lists(store, [domains_tree(tmp_path, "big",
                                             [f"h{i}.test" for i in range(6000)])])
    counts = keys_of(cluster, report.generation or "")
    assert len(counts) == 3 and all(c > 0.2 * sum(counts) for c in counts), counts


def test_a_decision_is_one_round_trip_per_node(store: ClusterStore, tmp_path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    load_lists(store, [domains_tree(tmp_path, "one", [f"h{i}.test" for i in range(2000)])])
    url_engine = UrlEngine(store, cache_size=0)
    for i in range(30):  # the pointer and a connection to every master are warm now
        assert url_engine.lookup(f"http://warm.h{i}.test/")

    sends: Counter[tuple[str, int]] = Counter()
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        sends[(self.host, self.port)] += 1
        return original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    hits = url_engine.lookup("http://a.b.c.h7.test/some/long/path?q=1")
    assert [h.entry for h in hits] == ["h7.test"]
    assert sends and max(sends.values()) == 1 and len(sends) <= 3, sends


def test_a_stale_pointer_is_rechecked_and_the_new_generation_answers(
    store: ClusterStore, cluster: RedisClusterServers, tmp_path: Path,
) -> None:
    server = ClusterStore(cluster.url, pointer_ttl=60)  # a server that trusts its cache long
    load_lists(store, [domains_tree(tmp_path, "one", ["first.test"])])
    url_engine = UrlEngine(server, cache_size=0)
    assert [h.entry for h in url_engine.lookup("http://first.test/")] == ["first.test"]
    second = load_lists(store, [domains_tree(tmp_path, "two", ["second.test"])])
    # No waiting for pointer_ttl: the pipeline read the pointer with the buckets.
    assert [h.entry for h in url_engine.lookup("http://second.test/")] == ["second.test"]
    assert url_engine.lookup("http://first.test/") == []
    assert server.current_generation() == second.generation


def test_replaced_generation_stays_readable_for_the_grace_then_is_deleted(
    store: ClusterStore, cluster: RedisClusterServers, tmp_path: Path,
) -> None:
    first = load_lists(store, [domains_tree(tmp_path, "one", [f"h{i}.one" for i in range(300)])])
    switched_at = time.monotonic()
    second = load_lists(store, [domains_tree(tmp_path, "two", ["only.two"])])
    assert sum(keys_of(cluster, first.generation or "")) > 0  # still there: grace
    assert time.monotonic() - switched_at < GRACE
    assert store.info(first.generation) is not None
    store.wait_for_drops(timeout=GRACE + 5)
    assert sum(keys_of(cluster, first.generation or "")) == 0
    assert store.info(first.generation) is None
    assert store.generations() == [second.generation]


def test_two_servers_switch_generation_together(cluster: RedisClusterServers,
                                                store: ClusterStore, tmp_path: Path) -> None:
    load_lists(store, [domains_tree(tmp_path, "one", ["first.test"])])
    config = parse_config(f'[store]\nredis = "{cluster.url}"\n')
    assert isinstance(make_store(config), ClusterStore)

    def blocked(port: int, url: str) -> bool:
        with IcapClient(port, timeout=5) as client:
            return client.transact(reqmod(url)).http_status == 403

    with running_server(build_policy(config)) as a, running_server(build_policy(config)) as b:
        ports = [a.server_address[1], b.server_address[1]]
        assert all(blocked(p, "http://first.test/") for p in ports)
        assert not any(blocked(p, "http://second.test/") for p in ports)
        load_lists(store, [domains_tree(tmp_path, "two", ["second.test"])])
        wait_until(lambda: [(blocked(p, "http://second.test/"), blocked(p, "http://first.test/"))
                            for p in ports] == [(True, False), (True, False)],
                   timeout=5, interval=0.1)


def test_cluster_down_at_start_is_store_unavailable_not_a_crash() -> None:
    url = f"redis+cluster://127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    config = parse_config(f'[store]\nredis = "{url}"\non_error = "block"\n')
    build_policy(config)  # builds: the client connects on first use
    store = ClusterStore(url, fault_backoff=1.0)
    started = time.monotonic()
    for _ in range(3):
        with pytest.raises(StoreUnavailable):
            store.lookup([1, 2, 3])
    assert time.monotonic() - started < 2.0


def test_cluster_url_takes_every_master_and_options() -> None:
    nodes, options = parse_cluster_url(
        "redis+cluster://:s%40cret@10.0.0.5:7000,10.0.0.6,[::1]:7002/0?socket_timeout=1")
    assert nodes == [("10.0.0.5", 7000), ("10.0.0.6", 6379), ("::1", 7002)]
    assert options == {"password": "s@cret", "socket_timeout": 1.0}
    with pytest.raises(ValueError, match="unknown option"):
        parse_cluster_url("redis+cluster://h:1?db=3")


def test_lists_command_loads_into_the_cluster_and_reports_it(
        cluster: RedisClusterServers, tmp_path) -> None:
    from click.testing import CliRunner

    from icapfilter.cli import main

    folder = tmp_path / "bl" / "adult"
    folder.mkdir(parents=True)
    (folder / "domains").write_text("cli.test\n")
    runner = CliRunner()
    done = runner.invoke(main, ["lists", "load", "--redis", cluster.url, str(tmp_path / "bl")])
    assert done.exit_code == 0, done.output
    status = runner.invoke(main, ["lists", "status", "--redis", cluster.url])
    assert status.exit_code == 0 and "adult: 1" in status.output
    checked = runner.invoke(main, ["check", "--redis", cluster.url, "http://x.cli.test/", "--json"])
    assert '"verdict": "block"' in checked.output
