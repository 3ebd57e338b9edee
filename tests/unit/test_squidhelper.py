"""The Squid external ACL helper's protocol: parsing, replies, the I/O loop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icapfilter.config import GroupConfig
from icapfilter.icap.messages import Headers
from icapfilter.learned import MemoryLearnedCache
from icapfilter.phrases import load_phrase_set
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.squidhelper import (
    BLOCKED,
    LEARNED_CLEAN,
    HelperRequest,
    MalformedLine,
    answer,
    format_verdict,
    parse_line,
    quote_value,
    serve,
)
from icapfilter.urls.errors import StoreUnavailable
from icapfilter.urls.loader import load_lists
from icapfilter.urls.memory_store import MemoryStore
from icapfilter.verdict import Verdict
from tests.policyfixtures import make_policy as compose


def make_policy(tmp_path):
    bl = tmp_path / "bl"
    (bl / "adult").mkdir(parents=True)
    (bl / "adult" / "domains").write_text("blocked.example.test\n")
    (bl / "adult" / "urls").write_text("clean.example.test/forbidden\n")
    (bl / "whitelist").mkdir()
    (bl / "whitelist" / "exceptionsitelist").write_text("ok.blocked.example.test\n")
    store = MemoryStore()
    load_lists(store, [str(bl)])
    return compose(GROUPS, store, phrase_tag="-")


GROUPS = [GroupConfig(name="default", block=["adult"]),
          GroupConfig(name="staff", clients=["10.9.0.0/16", "user:boss"], block=[])]


def test_parse_with_and_without_channel():
    assert parse_line(b"10.0.0.1 - http://a.test/") == HelperRequest(
        None, "10.0.0.1", None, "http://a.test/")
    assert parse_line(b"7 10.0.0.1 bob http://a.test/ -") == HelperRequest(
        "7", "10.0.0.1", "bob", "http://a.test/")


def test_fields_are_percent_decoded_once():
    got = parse_line(b"0 ::1 j%20doe http://a.test/x%2520y?q=%22", concurrency=True)
    assert got.user == "j doe" and got.url == 'http://a.test/x%20y?q="'


def test_explicit_concurrency_flags():
    assert parse_line(b"5 - http://a.test/", concurrency=False).ip == "5"
    assert parse_line(b"x 10.0.0.1 - http://a.test/", concurrency=True).channel == "x"


def test_short_line_is_malformed_and_keeps_its_channel():
    try:
        parse_line(b"3 10.0.0.1 -")
    except MalformedLine as exc:
        assert exc.channel == "3"
    else:
        raise AssertionError("no MalformedLine")


def test_quote_value_escapes_for_squid():
    assert quote_value('a "b" \\c\nd') == '"a \\"b\\" \\\\c d"'


def test_replies(tmp_path):
    policy = make_policy(tmp_path)
    assert answer(policy, b"1 10.0.0.1 - http://blocked.example.test/x") == (
        b'1 OK message="listed in adult" tag="adult"\n')
    assert answer(policy, b"2 10.0.0.1 - http://sub.blocked.example.test/") .startswith(b"2 OK ")
    assert answer(policy, b"3 10.0.0.1 - http://ok.blocked.example.test/") == b"3 ERR\n"
    assert answer(policy, b"4 10.0.0.1 - http://www.example.test/") == b"4 ERR\n"
    assert answer(policy, b"10.0.0.1 - http://clean.example.test/forbidden/a") .startswith(b"OK ")
    assert answer(policy, b"5 10.0.0.1 -").startswith(b'5 BH message="icapfilter: ')


def test_groups_follow_client_ip_and_user(tmp_path):
    policy = make_policy(tmp_path)
    assert answer(policy, b"1 10.9.1.1 - http://blocked.example.test/") == b"1 ERR\n"
    assert answer(policy, b"2 10.0.0.1 BOSS http://blocked.example.test/") == b"2 ERR\n"


def test_policy_failure_is_bh_not_a_crash():
    class Broken:
        generation = "x"

        def decide_request(self, request):
            raise RuntimeError("boom")

    assert answer(Broken(), b"9 10.0.0.1 - http://a.test/").startswith(b'9 BH message="')


def test_block_without_category():
    assert format_verdict(None, Verdict.block("why")) == b'OK message="why" tag="blocked"\n'


class _Fixed:
    generation = "x"

    def decide_request(self, request):
        if "bad" in request.url:
            return Verdict.block('listed in "x"\nnext', "cat egory")
        return Verdict.allow()


@given(st.binary(max_size=300).filter(lambda b: b"\n" not in b))
def test_any_line_gives_exactly_one_reply_line_with_its_id(line):
    for concurrency in (None, True, False):
        reply = answer(_Fixed(), line, concurrency)
        assert reply.endswith(b"\n") and reply.count(b"\n") == 1
        first = line.split()[0] if line.split() else b""
        if concurrency or (concurrency is None and first.isdigit()):
            if first:
                assert reply.split(b" ", 1)[0] == first.decode("ascii", "replace").encode()
        word = reply.split()[1 if reply.split()[0] not in (b"OK", b"ERR", b"BH") else 0]
        assert word in (b"OK", b"ERR", b"BH")


@given(st.integers(0, 10**6), st.sampled_from(["bad", "good"]), st.text(max_size=30))
def test_channel_echoed_for_well_formed_lines(channel, kind, user):
    from urllib.parse import quote

    line = f"{channel} 10.0.0.1 {quote(user) or '-'} http://{kind}.test/{quote(user)} -".encode()
    reply = answer(_Fixed(), line)
    assert reply.startswith(f"{channel} {'OK' if kind == 'bad' else 'ERR'}".encode())
    assert reply.count(b"\n") == 1


def test_serve_answers_a_partial_batch_without_waiting(tmp_path):
    policy = make_policy(tmp_path)
    rin, win = os.pipe()
    rout, wout = os.pipe()
    done = []
    thread = threading.Thread(target=lambda: done.append(serve(policy, rin, wout)))
    thread.start()
    os.write(win, b"1 10.0.0.1 - http://blocked.example.test/ -\n2 10.0.0.1 - http://a.te")
    first = os.read(rout, 4096)
    assert first.startswith(b"1 OK ") and first.count(b"\n") == 1
    os.write(win, b"st/ -\n\n3 10.0.0.1 -\n")
    got = b""
    while got.count(b"\n") < 3:
        got += os.read(rout, 4096)
    assert got.split(b"\n")[:3] == [b"2 ERR", b'BH message="icapfilter: expected 3 fields '
                                    b'(%>a %un %URI), got 0"',
                                    b'3 BH message="icapfilter: expected 3 fields '
                                    b'(%>a %un %URI), got 2"']
    os.close(win)
    thread.join(10)
    assert done == [4]
    for fd in (rin, rout, wout):
        os.close(fd)


def test_command_line_helper_survives_malformed_lines(tmp_path):
    make_policy(tmp_path)  # writes the lists
    config = tmp_path / "c.toml"
    config.write_text(f'[lists]\npaths = ["{tmp_path / "bl"}"]\n\n[[groups]]\nname = "default"\n'
                      'block = ["adult"]\n')
    lines = (b"0 10.0.0.1 - http://blocked.example.test/ -\n1 garbage\n\n"
             b"2 10.0.0.1 - http://www.example.test/ -\n\xff\xfe\x00 x\n"
             b"3 10.0.0.1 - http://ok.blocked.example.test/ -\n")
    got = subprocess.run([sys.executable, "-m", "icapfilter", "squid-helper", "--config",
                          str(config)], input=lines, capture_output=True, timeout=60)
    assert got.returncode == 0, got.stderr
    out = got.stdout.split(b"\n")
    assert out[0].startswith(b'0 OK message="listed in adult"')
    assert out[1].startswith(b"1 BH ") and out[2].startswith(b"BH ")
    assert out[3] == b"2 ERR" and out[4].startswith(b"BH ") and out[5] == b"3 ERR"
    assert out[6:] == [b""]
    assert b"malformed line" in got.stderr


def test_the_acl_argument_is_the_question():
    assert parse_line(b"1 10.0.0.1 - http://a.test/ -").question == BLOCKED
    assert parse_line(b"1 10.0.0.1 - http://a.test/").question == BLOCKED
    assert parse_line(b"1 10.0.0.1 - http://a.test/ blocked").question == BLOCKED
    assert parse_line(b"1 10.0.0.1 - http://a.test/ learned-clean").question == LEARNED_CLEAN


def test_an_unknown_acl_argument_is_answered_bh_naming_the_known_ones():
    for line in (b"4 10.0.0.1 - http://a.test/ learned", b"4 10.0.0.1 - http://a.test/ a b"):
        reply = answer(_Fixed(), line)
        assert reply.startswith(b'4 BH message="icapfilter: unknown acl argument')
        assert b"learned-clean" in reply


def learned_policy(tmp_path, cache, mark=False):
    (tmp_path / "bannedphraselist").write_text("<badword>\n")
    phrases, errors = load_phrase_set([tmp_path / "bannedphraselist"])
    assert not errors
    policy = make_policy(tmp_path)
    return compose(GROUPS, policy.urls.engine.store, phrases=phrases, learned=cache, ttl=60,
                   mark=mark)


def scan(policy, url, body):
    html = ResponseInfo(200, Headers.of([("Content-Type", "text/html")]))
    page = policy.begin_response(RequestInfo(Client("10.0.0.1", None), "GET", url, Headers()),
                                 html)
    page.feed(body)
    return page.finish()


def test_learned_clean_is_ok_only_for_a_page_already_scanned_and_found_clean(tmp_path):
    policy = learned_policy(tmp_path, MemoryLearnedCache(100))
    ask = b"%d 10.0.0.1 - http://www.example.test/%s learned-clean"
    assert answer(policy, ask % (1, b"page")) == b"1 ERR\n"  # not scanned yet
    assert not scan(policy, "http://www.example.test/page", b"<p>fine</p>").blocked
    assert scan(policy, "http://www.example.test/bad", b"<p>a badword</p>").blocked
    assert answer(policy, ask % (2, b"page")).startswith(b'2 OK message="')
    assert answer(policy, ask % (3, b"bad")) == b"3 ERR\n"  # learned blocked: RESPMOD blocks it
    assert answer(policy, ask % (4, b"other")) == b"4 ERR\n"
    # the URL question is unchanged by what was learned
    assert answer(policy, b"5 10.0.0.1 - http://www.example.test/page -") == b"5 ERR\n"


def test_learned_clean_follows_the_clients_group(tmp_path):
    policy = learned_policy(tmp_path, MemoryLearnedCache(100))
    scan(policy, "http://www.example.test/page", b"<p>fine</p>")
    # learned for the default group only: the staff group's page was never scanned
    assert answer(policy, b"1 10.9.0.1 - http://www.example.test/page learned-clean") == b"1 ERR\n"
    assert answer(policy, b"2 10.0.0.1 - http://www.example.test/page learned-clean").startswith(
        b"2 OK")


def test_learned_clean_is_err_when_the_store_is_unreachable(tmp_path):
    class Down(MemoryLearnedCache):
        def get(self, *args):
            raise StoreUnavailable("connection refused")

    policy = learned_policy(tmp_path, Down(100))
    assert answer(policy, b"1 10.0.0.1 - http://www.example.test/page learned-clean") == b"1 ERR\n"


def test_command_line_helper_warns_when_learned_clean_cannot_find_anything(tmp_path):
    make_policy(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text(f'[lists]\npaths = ["{tmp_path / "bl"}"]\n\n[learned]\nttl = 60\n\n'
                      '[[groups]]\nname = "default"\nblock = ["adult"]\n')
    got = subprocess.run([sys.executable, "-m", "icapfilter", "squid-helper", "--config",
                          str(config)], input=b"0 10.0.0.1 - http://a.test/ learned-clean\n",
                         capture_output=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stdout == b"0 ERR\n"
    assert b"learned-clean" in got.stderr and b"[store] redis" in got.stderr


def test_with_mark_requests_the_url_question_blocks_a_page_learned_blocked(tmp_path):
    # as REQMOD does: no need to fetch a page known to be blocked
    policy = learned_policy(tmp_path, MemoryLearnedCache(100), mark=True)
    scan(policy, "http://www.example.test/bad", b"<p>a badword</p>")
    scan(policy, "http://www.example.test/page", b"<p>fine</p>")
    reply = answer(policy, b"1 10.0.0.1 - http://www.example.test/bad -")
    assert reply.startswith(b'1 OK message="') and b"(learned)" in reply
    assert answer(policy, b"2 10.0.0.1 - http://www.example.test/page -") == b"2 ERR\n"


def _serve_bytes(policy, data: bytes, **kwargs) -> tuple[bytes, int, float]:
    """Feed ``data`` through pipes (a writer thread) and return what serve wrote,
    the count it returned and the seconds it took."""
    rin, win = os.pipe()
    rout, wout = os.pipe()
    result: list[int] = []

    def feed() -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(win, view[:65536]):]
        os.close(win)

    started = time.monotonic()
    server = threading.Thread(target=lambda: result.append(serve(policy, rin, wout, **kwargs)))
    writer = threading.Thread(target=feed)
    server.start()
    writer.start()
    writer.join(60)
    server.join(60)
    elapsed = time.monotonic() - started
    os.close(wout)
    out = b""
    while chunk := os.read(rout, 65536):
        out += chunk
    os.close(rin)
    os.close(rout)
    return out, result[0], elapsed


def test_a_multi_megabyte_line_is_answered_bh_quickly_and_the_next_line_normally(tmp_path):
    policy = make_policy(tmp_path)
    huge = b"7 10.0.0.1 - http://blocked.example.test/?" + b"a" * (16 << 20) + b" -\n"
    out, answered, elapsed = _serve_bytes(
        policy, huge + b"8 10.0.0.1 - http://blocked.example.test/ -\n", chunk=4096)
    first, second = out.split(b"\n")[:2]
    assert first == b'7 BH message="line too long"'
    assert second.startswith(b"8 OK ")
    assert answered == 2
    assert elapsed < 5


@pytest.mark.parametrize("chunk", [7, 4096])
def test_line_length_cap_is_exact_whatever_the_reads(tmp_path, chunk):
    policy = make_policy(tmp_path)
    base = b"10.0.0.1 - http://blocked.example.test/?"
    fits = base + b"a" * (100 - len(base))
    over = fits + b"a"
    out, answered, _ = _serve_bytes(policy, fits + b"\n" + over + b"\n" + over + b"a\n" + fits,
                                    chunk=chunk, max_line=100)
    lines = out.split(b"\n")
    assert lines[0].startswith(b"OK ") and lines[3].startswith(b"OK ")
    assert lines[1] == lines[2] == b'BH message="line too long"'
    assert answered == 4
