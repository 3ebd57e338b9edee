from __future__ import annotations

import pytest

from icapfilter.phrases import BodyScan, ListKind, scan_bytes
from icapfilter.phrases.body_scan import BATCH_BYTES
from icapfilter.scan_settings import ScanSettings


def scan(ps, html: str, *, limit: int = 50, content_type: str = "text/html; charset=utf-8",
         **settings):
    return scan_bytes(ps, html.encode(), ScanSettings(**settings), limit=limit,
                      content_type=content_type)


def test_clean_page(make_set):
    ps = make_set(banned="<forbidden>\n", weighted="<naughty><10>\n")
    r = scan(ps, "<p>Nothing to see here</p>")
    assert (r.blocked, r.score, r.reason, r.phrases) == (False, 0, "clean", [])
    assert r.verdict == "allow" and r.bytes_scanned == 26


def test_banned_phrase_blocks_and_is_case_insensitive(make_set):
    ps = make_set(banned='#listcategory: "Bad"\n<forbidden word>\n')
    r = scan(ps, "<p>A FORBIDDEN\n  Word!</p>")
    assert r.blocked and r.reason == "banned phrase" and r.category == "Bad"
    assert r.phrases[0].list_kind is ListKind.BANNED


def test_exception_beats_banned_and_weighted(make_set):
    ps = make_set(banned="<forbidden>\n", weighted="<naughty><100>\n", exception="<medical>\n")
    r = scan(ps, "forbidden naughty, but medical\n")
    assert not r.blocked and r.reason == "exception phrase"
    assert r.score == 0  # e2guardian stops at an exception, before keeping any naughtiness
    r = scan(ps, "forbidden medical\n", filter_mode="raw")
    assert not r.blocked


def test_exception_seen_after_banned_still_wins(make_set):
    ps = make_set(banned="<forbidden>\n", exception="<medical>\n")
    body = "forbidden " + "x " * 100_000 + " medical\n"
    assert not scan(ps, body).blocked


def test_combinations(make_set):
    ps = make_set(
        banned="<alpha>,<beta>\n",
        weighted="<gamma>,<delta><30>\n<gamma><1>\n",
        exception="<safe>,<context>\n",
    )
    assert not scan(ps, "alpha only").blocked
    r = scan(ps, "beta ... and later alpha")
    assert r.blocked and r.reason == "banned combination"
    assert r.phrases[0].combination and r.phrases[0].phrase == "<alpha>,<beta>"
    r = scan(ps, "gamma delta gamma delta gamma\n", limit=30)
    assert r.score == 31 and r.blocked
    r = scan(ps, "gamma delta gamma delta gamma\n", limit=30, weighted_mode="normal")
    assert r.score == 30 * 2 + 3  # combination counts min(count of parts)
    r = scan(ps, "alpha beta in a safe context\n")
    assert not r.blocked and r.reason == "exception combination"


def test_weighted_limit_is_strict(make_set):
    ps = make_set(weighted="<ten><10>\n<five><5>\n")
    assert not scan(ps, "ten five", limit=15).blocked
    r = scan(ps, "ten five", limit=14)
    assert r.blocked and r.reason == "weighted phrase limit exceeded" and r.score == 15


def test_negative_weights(make_set):
    ps = make_set(weighted="<bad><40>\n<education><-30>\n")
    assert scan(ps, "bad bad", limit=30).blocked
    r = scan(ps, "bad education\n", limit=30)
    assert r.score == 10 and not r.blocked


def test_percent_weights(make_set):
    ps = make_set(weighted="<half><50%>\n<tenth><10%>\n")
    r = scan(ps, "half tenth", limit=50)
    assert r.score == 25 + 5
    r = scan(ps, "half tenth", limit=160)
    assert r.score == 80 + 16
    assert {h.phrase: h.weight for h in r.phrases} == {"half": 80, "tenth": 16}


def test_singular_and_normal_modes(make_set):
    ps = make_set(weighted="<word><10>\n")
    body = "word " * 7
    assert scan(ps, body, weighted_mode="singular").score == 10
    r = scan(ps, body, weighted_mode="normal")
    assert r.score == 70 and r.phrases[0].count == 7
    with pytest.raises(ValueError):
        ScanSettings(weighted_mode="mode2")


def test_word_boundaries(make_set):
    ps = make_set(weighted="< start><1>\n<end ><10>\n< whole ><100>\n")
    assert scan(ps, "restart ends wholesome\n").score == 0
    # the smart pass starts with a space, so the page's start is a boundary...
    assert scan(ps, "start\n").score == 1
    assert scan(ps, "the end!\n").score == 10
    assert scan(ps, "the end.\n").score == 0  # '.' is kept in pages: "end." is not "end "
    assert scan(ps, "(whole)\n").score == 100
    assert scan(ps, "<b>whole</b>").score == 100
    # ...but not its end: e2guardian never scans the smart pass's last byte
    # and the raw pass has no edge spaces
    assert scan(ps, "the end").score == 0


def test_the_smart_pass_never_sees_the_last_byte(make_set):
    # checked against e2guardian 5.3.5: the exception at the very end is missed
    ps = make_set(banned="<forbidden>\n", exception="<medical>\n")
    r = scan(ps, "forbidden medical", e2guardian_exact=True)
    assert r.blocked and r.reason == "banned phrase"
    assert not scan(ps, "forbidden medical.", e2guardian_exact=True).blocked


def test_filter_modes(make_set):
    ps = make_set(weighted="<secret attr><10>\n<hidden><20>\n<visible text><40>\n")
    page = '<p title="secret attr">visible <b>text</b></p><script>hidden()</script>'
    smart = scan(ps, page, filter_mode="smart", limit=100)
    raw = scan(ps, page, filter_mode="raw", limit=100)
    both = scan(ps, page, filter_mode="both", limit=100)
    assert smart.score == 40 + 20  # <...> removed (tags become a space), script text kept
    assert raw.score == 10 + 20  # markup included: "visible b text /b" has no "visible text"
    assert both.score == max(smart.score, raw.score)  # max of the passes, not the sum
    # a pass over the limit stops e2guardian: the raw pass never runs
    assert scan(ps, page, filter_mode="both", limit=50).score == 60


def test_entities_decoded_in_smart_mode(make_set):
    ps = make_set(weighted="<café noir><10>\n<fish chips><5>\n")
    assert scan(ps, "<p>caf&eacute;&nbsp;NOIR and fish &amp; chips</p>").score == 15


def test_no_state_leaks_between_scans(make_set):
    ps = make_set(banned="<forbidden>\n", weighted="<word><10>\n")
    first = BodyScan(ps, limit=5)
    first.feed(b"forbidden word word")
    assert first.finish().blocked
    second = BodyScan(ps, limit=5)
    second.feed(b"hello")
    r = second.finish()
    assert (r.blocked, r.score, r.phrases) == (False, 0, [])
    assert first.finish() is first.finish()


def test_certain_once_a_banned_phrase_is_scanned(make_set):
    ps = make_set(banned="<forbidden>\n", weighted="<word><10>\n")
    s = BodyScan(ps, content_type="text/html; charset=utf-8")
    s.feed(b"word " * 20)
    assert not s.certain
    s.feed(b"forbidden")
    # small chunks are gathered before a pass: certain within BATCH_BYTES
    s.feed(b" " * BATCH_BYTES)
    assert s.certain
    s.feed(b"ignored afterwards")
    assert s.finish().blocked

    with_exc = make_set(banned="<forbidden>\n", exception="<medical>\n")
    s = BodyScan(with_exc, content_type="text/plain")
    s.feed(b"forbidden" + b" " * BATCH_BYTES)
    assert not s.certain  # an exception later on the page could still allow it
    s.feed(b" medical " + b" " * BATCH_BYTES)
    assert s.certain and not s.finish().blocked


def test_a_provisional_verdict_covers_every_byte_fed(make_set):
    ps = make_set(banned="<forbidden>\n")
    s = BodyScan(ps, content_type="text/plain")
    s.feed(b"clean ")
    assert not s.provisional().blocked
    s.feed(b"forbidden ")  # still gathered, not yet scanned
    assert s.provisional().blocked and s.certain


def test_scan_cap(make_set):
    ps = make_set(banned="<forbidden>\n")
    r = scan(ps, "x" * 1000 + " forbidden", max_scan_bytes=500)
    assert not r.blocked and r.truncated and r.bytes_scanned == 500
    assert r.reason == "scan truncated at 500 bytes"


def test_every_type_gets_both_passes_as_in_e2guardian(make_set):
    ps = make_set(weighted="<secret attr><10>\n<key value><20>\n")
    body = b'{"key": "value", "k": "<p title=\'secret attr\'>"}\n'
    for ct in ("application/json", "text/html", "text/plain"):
        # the smart pass reads "key value"; the raw pass also sees the "tag"
        assert scan_bytes(ps, body, content_type=ct, limit=100).score == 20, ct
    # raw only (phrasefiltermode 0): no folding, so no "key value" either
    raw_only = ScanSettings(filter_mode="raw")
    assert scan_bytes(ps, body, raw_only, content_type="text/plain").score == 10


def test_empty_set_and_empty_body(make_set):
    ps = make_set()
    assert scan(ps, "anything").reason == "clean"
    assert scan(make_set(banned="<x>\n"), "").reason == "clean"


def test_result_json_shape(make_set):
    ps = make_set(weighted="<word><10>\n")
    d = scan(ps, "word", limit=5).to_dict()
    assert d["verdict"] == "block" and d["score"] == 10 and d["reason"]
    assert d["phrases"][0] == {
        "phrase": "word",
        "weight": 10,
        "list": "weighted",
        "count": 1,
        "category": None,
        "combination": False,
    }
