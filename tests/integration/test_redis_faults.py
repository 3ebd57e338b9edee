"""The ICAP server under Redis faults (issue 7).

Whatever Redis does (down at start, killed, restarted, slow, frozen, answering
errors), every request is answered within a short bound, with ``[store]
on_error`` when the lists cannot be read, the fault is logged once and without
a traceback, and decisions are back to normal within seconds of Redis
returning. Store-level failure tests (a load interrupted by a crash or a
freeze) are in ``tests/integration/urls/test_redis_failures.py``.

Decisions are cached per (generation, URL or host) for ``pointer_ttl`` (1 s),
so every request here asks for a host of its own.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from icapfilter.app import build_policy
from icapfilter.config import parse_config
from icapfilter.policy import Policy
from icapfilter.redisstore.single import RedisStore
from icapfilter.urls.errors import LoadError
from icapfilter.urls.loader import load_lists
from tests.icapserver import IcapClient, IcapResponse, reqmod, running_server
from tests.polling import wait_until
from tests.redisserver import RedisServer, redis_available

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.timeout(60)]

ANSWER_WITHIN = 1.5
"""Bound on one answer while Redis misbehaves: one socket timeout (0.5 s) plus a margin."""
RECOVER_WITHIN = 5.0
"""Bound on getting normal decisions back once Redis answers again."""
CLIENT_IP = "X-Client-IP: 10.0.0.7\r\n"

_ids = itertools.count()


@pytest.fixture
def redis_srv(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test alone, not started: the test decides when it runs."""
    if not redis_available():
        pytest.skip("redis-server not installed")
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


def write_lists(root: Path, *domains: str) -> Path:
    folder = root / "adult"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "domains").write_text("".join(f"{d}\n" for d in domains))
    return root


def policy_for(redis: RedisServer, on_error: str = "block", extra: str = "") -> Policy:
    """Built as the product builds it: configuration text in, policy out."""
    text = f'[store]\nredis = "{redis.url}"\non_error = "{on_error}"\n{extra}'
    return build_policy(parse_config(text))


def classify(response: IcapResponse) -> str:
    if response.status == 204:
        return "allow"
    if response.status == 200 and response.http_status == 403:
        return "block"
    if response.status == 200 and response.http_status == 503 \
            and b"unavailable" in response.body:
        return "unavailable"
    return repr(response)


def ask(port: int, domain: str) -> tuple[str, float]:
    """One REQMOD for a host never asked before (a subdomain of ``domain``), so no
    cached decision answers it: (verdict kind, seconds to answer)."""
    url = f"http://n{next(_ids)}.{domain}/"
    started = time.monotonic()
    with IcapClient(port, timeout=10) as client:
        response = client.transact(reqmod(url, extra=CLIENT_IP))
    return classify(response), time.monotonic() - started


def ask_in_time(port: int, host: str) -> str:
    kind, seconds = ask(port, host)
    assert seconds < ANSWER_WITHIN, f"{host} answered {kind} after {seconds:.2f}s"
    return kind


def normal(port: int) -> bool:
    return ask(port, "bad.test")[0] == "block" and ask(port, "good.test")[0] == "allow"


def back_to_normal(port: int) -> None:
    wait_until(lambda: normal(port), timeout=RECOVER_WITHIN, interval=0.1,
               message=f"not back within {RECOVER_WITHIN}s")


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not tracebacks, tracebacks


def fault_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == "icapfilter.policy" and r.levelno >= logging.ERROR]


@pytest.mark.parametrize("on_error,expected", [("block", "unavailable"), ("allow", "allow")])
def test_redis_down_at_start_applies_on_error_then_recovers_when_it_comes_up(
    redis_srv: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    on_error: str, expected: str,
) -> None:
    with running_server(policy_for(redis_srv, on_error)) as server:
        port = server.server_address[1]
        for _ in range(3):
            assert ask_in_time(port, "bad.test") == expected
            assert ask_in_time(port, "good.test") == expected
        redis_srv.start()
        load_lists(RedisStore(redis_srv.url), [write_lists(tmp_path / "l", "bad.test")])
        back_to_normal(port)
    no_traceback(caplog)


def test_redis_killed_mid_traffic_answers_every_request_in_time_with_on_error(
    redis_srv: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    redis_srv.start()
    load_lists(RedisStore(redis_srv.url), [write_lists(tmp_path / "l", "bad.test")])
    # The rate limiter and the learned cache use the same Redis: they must fail as well.
    extra = "[ratelimit]\nrequests = 100000\n[learned]\nttl = 60\n"
    results: list[tuple[float, float, str, str]] = []  # (start, seconds, host, kind)
    errors: list[BaseException] = []
    stop = threading.Event()

    def traffic() -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            host = "bad.test" if n % 2 else "good.test"
            started = time.monotonic()
            try:
                kind, seconds = ask(port, host)
            except BaseException as exc:  # recorded, the test fails below
                errors.append(exc)
                return
            results.append((started, seconds, host, kind))

    with running_server(policy_for(redis_srv, "block", extra)) as server:
        port = server.server_address[1]
        threads = [threading.Thread(target=traffic, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(results) >= 8 or errors)
        killing = time.monotonic()
        redis_srv.kill()
        killed = time.monotonic()
        wait_until(lambda: sum(r[0] > killed for r in results) >= 8 or errors)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        assert not any(t.is_alive() for t in threads), "a request never got an answer"
    assert not errors, errors
    before = [r for r in results if r[0] + r[1] < killing]
    after = [r for r in results if r[0] > killed]
    assert before and len(after) >= 8, (len(before), len(after))
    wrong = [r for r in before if r[3] != ("block" if r[2] == "bad.test" else "allow")]
    assert not wrong, wrong
    assert {kind for *_, kind in after} == {"unavailable"}
    slowest = max(seconds for _, seconds, _, _ in results)
    assert slowest < ANSWER_WITHIN, slowest
    no_traceback(caplog)


def test_redis_restart_brings_back_normal_decisions_and_reloads_the_lookup_script(
    redis_srv: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    redis_srv.start()
    load_lists(RedisStore(redis_srv.url), [write_lists(tmp_path / "l", "bad.test")])
    redis_srv.client().save()  # the lists survive the restart, as with persistence on
    with running_server(policy_for(redis_srv)) as server:
        port = server.server_address[1]
        assert normal(port)
        redis_srv.kill()
        assert ask_in_time(port, "bad.test") == "unavailable"
        assert ask_in_time(port, "good.test") == "unavailable"
        redis_srv.start()  # same port, empty script cache: EVALSHA answers NOSCRIPT
        back_to_normal(port)
        stats = redis_srv.client().info("commandstats")
        assert stats["cmdstat_script|load"]["calls"] >= 1, sorted(stats)
    no_traceback(caplog)


@pytest.mark.parametrize("fault", ["client-pause", "sigstop"])
def test_slow_or_frozen_redis_answers_within_the_socket_timeout(
    redis_srv: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: str,
) -> None:
    # DEBUG SLEEP is disabled in Redis 7 (enable-debug-command no); CLIENT PAUSE
    # holds every command just the same, and SIGSTOP is a partition.
    redis_srv.start()
    load_lists(RedisStore(redis_srv.url), [write_lists(tmp_path / "l", "bad.test")])
    with running_server(policy_for(redis_srv)) as server:
        port = server.server_address[1]
        assert normal(port)
        if fault == "client-pause":
            redis_srv.client().execute_command("CLIENT", "PAUSE", 2500, "ALL")
        else:
            redis_srv.freeze()
        try:
            kinds = [ask_in_time(port, host) for host in ("bad.test", "good.test") * 3]
        finally:
            redis_srv.thaw()
        assert set(kinds) == {"unavailable"}
        back_to_normal(port)
    no_traceback(caplog)


@pytest.mark.parametrize("fault", ["wrongtype", "busy-script"])
def test_error_replies_from_redis_apply_on_error_until_they_stop(
    redis_srv: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: str,
) -> None:
    redis_srv.start()
    store = RedisStore(redis_srv.url)
    load_lists(store, [write_lists(tmp_path / "l", "bad.test")])
    admin = redis_srv.client(socket_timeout=10)
    active = f"{store.prefix}:active"
    generation = admin.get(active)
    with running_server(policy_for(redis_srv)) as server:
        port = server.server_address[1]
        assert normal(port)
        busy: threading.Thread | None = None
        if fault == "wrongtype":  # every GET of the pointer now answers WRONGTYPE
            admin.delete(active)
            admin.hset(active, "not", "a string")
        else:  # a runaway script: other commands get BUSY after the threshold
            admin.config_set("busy-reply-threshold", 50)
            busy = threading.Thread(target=_run_busy_script, args=(redis_srv,), daemon=True)
            busy.start()
            wait_until(lambda: answers_busy(redis_srv))
        try:
            kinds = [ask_in_time(port, host) for host in ("bad.test", "good.test") * 3]
        finally:
            if busy is not None:
                admin.script_kill()
                busy.join(timeout=5)
            else:
                admin.delete(active)
                admin.set(active, generation)
        assert set(kinds) == {"unavailable"}
        back_to_normal(port)
    no_traceback(caplog)


def answers_busy(redis: RedisServer) -> bool:
    client = redis.client(socket_timeout=1)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - redis-py's error for a BUSY reply
        return "BUSY" in str(exc)
    finally:
        client.close()
    return False


def _run_busy_script(redis: RedisServer) -> None:
    try:
        redis.client(socket_timeout=10).eval("while true do end", 0)
    except Exception:  # noqa: BLE001 - "Script killed by user" is the way it ends
        pass


def test_reload_interrupted_by_redis_dying_keeps_serving_the_old_lists(
    redis_srv: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    redis_srv.start()
    loader = RedisStore(redis_srv.url, pipeline_size=20)
    load_lists(loader, [write_lists(tmp_path / "old", "bad.test")])
    redis_srv.client().save()
    new = write_lists(tmp_path / "new", "new.test", *(f"h{i}.new.test" for i in range(20000)))

    def kill_on_first_write(stage: str, done: int, total: int | None) -> None:
        if stage == "write" and done:
            redis_srv.kill()

    with running_server(policy_for(redis_srv)) as server:
        port = server.server_address[1]
        assert normal(port)
        with pytest.raises(LoadError):
            load_lists(loader, [new], progress=kill_on_first_write)
        assert ask_in_time(port, "bad.test") == "unavailable"
        redis_srv.start()
        back_to_normal(port)
        assert ask(port, "new.test")[0] == "allow"  # the interrupted load never switched
    no_traceback(caplog)


def test_a_store_fault_is_logged_once_for_many_failing_requests(
    redis_srv: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    redis_srv.start()
    load_lists(RedisStore(redis_srv.url), [write_lists(tmp_path / "l", "bad.test")])
    with running_server(policy_for(redis_srv)) as server:
        port = server.server_address[1]
        assert normal(port)
        redis_srv.kill()
        caplog.clear()
        kinds = [ask_in_time(port, "bad.test") for _ in range(20)]
    assert set(kinds) == {"unavailable"}
    records = fault_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    assert "on_error=block" in records[0].getMessage()
    no_traceback(caplog)
