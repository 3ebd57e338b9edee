"""Access-log formats: Squid's native access.log and e2guardian's, one line per
HTTP transaction, checked against each format's own definition."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icapfilter.accesslog import AccessLog
from icapfilter.logformats import e2guardian_line, squid_line
from icapfilter.outcome import Outcome
from icapfilter.policy import Client
from icapfilter.verdict import Verdict

NOW = 1764900000.0429  # 2025-12-05, milliseconds 042

# Squid's src/log/FormatSquidNative.cc: "%9ld.%03d %6ld %s %s/%03d %" PRId64 " %s %s %s %s%s/%s %s"
SQUID_NATIVE = re.compile(
    r"^(?P<time>\d{9,}\.\d{3}) (?P<elapsed> {0,5}\d+) (?P<client>\S+) "
    r"(?P<tag>[A-Z_]+)/(?P<status>\d{3}) (?P<bytes>\d+) (?P<method>\S+) (?P<url>\S+) "
    r"(?P<user>\S+) (?P<hier>[A-Z_]+)/(?P<host>\S+) (?P<type>\S+)$")


def message(method: str, verdict: Verdict | None, *, url: str = "http://bad.test/page?a=1",
            http_method: str = "GET", **fields: object) -> Outcome:
    outcome = Outcome(service=method.lower(), method=method, url=url,
                      client=Client("10.0.0.7", fields.pop("user", None)), status=200,
                      verdict=verdict, http_method=http_method, **fields)  # type: ignore[arg-type]
    outcome.started = time.monotonic() - 0.0123
    return outcome


def squid(outcome: Outcome, error: str | None = None) -> dict[str, str] | None:
    line = squid_line(outcome, ("127.0.0.1", 5000), error, NOW)
    if line is None:
        return None
    match = SQUID_NATIVE.match(line)
    assert match, line
    return match.groupdict()


BLOCK = Verdict.block("listed in adult", "adult", group="kids")


def test_a_blocked_request_is_one_squid_denied_line():
    fields = squid(message("REQMOD", BLOCK, page_bytes=1234))
    assert fields == {
        "time": "1764900000.042", "elapsed": "    12", "client": "10.0.0.7",
        "tag": "TCP_DENIED", "status": "403", "bytes": "1234", "method": "GET",
        "url": "http://bad.test/page?a=1", "user": "-", "hier": "HIER_NONE", "host": "-",
        "type": "text/html",
    }


def test_an_allowed_page_is_logged_once_where_the_response_is_known():
    assert squid(message("REQMOD", Verdict.allow("not listed"))) is None
    fields = squid(message("RESPMOD", Verdict.allow("clean", score=3), url="http://ok.test/a",
                           http_status=200, body_bytes=5000,
                           content_type="text/html; charset=utf-8"))
    assert fields is not None
    assert (fields["tag"], fields["status"], fields["bytes"]) == ("TCP_MISS", "200", "5000")
    assert (fields["hier"], fields["host"], fields["type"]) == ("HIER_DIRECT", "ok.test",
                                                               "text/html")


def test_a_response_blocked_by_its_content_is_denied():
    fields = squid(message("RESPMOD", Verdict.block("phrases", "porn", score=80),
                           http_status=200, body_bytes=9000, page_bytes=800))
    assert fields is not None
    assert (fields["tag"], fields["status"], fields["bytes"]) == ("TCP_DENIED", "403", "800")


def test_a_block_after_the_page_started_is_an_aborted_transfer():
    fields = squid(message("RESPMOD", Verdict.block("phrases", "porn"), late=True,
                           http_status=200, body_bytes=70000, content_type="text/html"))
    assert fields is not None
    assert (fields["tag"], fields["status"], fields["bytes"]) == ("TCP_MISS_ABORTED", "200",
                                                                 "70000")


def test_requests_no_respmod_follows_are_logged_at_reqmod():
    tunnel = squid(message("REQMOD", Verdict.allow("not listed"), url="ok.test:443",
                           http_method="CONNECT"))
    assert tunnel is not None
    assert (tunnel["tag"], tunnel["status"], tunnel["method"], tunnel["host"]) == (
        "TCP_TUNNEL", "200", "CONNECT", "ok.test")
    learned = replace(Verdict.allow("clean (learned)"),
                      set_request_headers=(("X-Icapfilter-Learned", "clean"),))
    fields = squid(message("REQMOD", learned))
    assert fields is not None and (fields["tag"], fields["status"]) == ("TCP_MISS", "000")


def test_options_and_errors_without_a_url_are_not_http_transactions():
    assert squid(message("OPTIONS", None, url="-")) is None
    assert squid(message("-", None, url="-"), error="bad head") is None
    fields = squid(message("RESPMOD", None), error="client too slow")
    assert fields is not None and (fields["tag"], fields["status"]) == ("NONE_NONE", "000")


def test_user_names_and_urls_never_split_a_field():
    fields = squid(message("REQMOD", BLOCK, user="EXAMPLE\\bob smith",
                           url="http://bad.test/a b"))
    assert fields is not None
    assert fields["user"] == "EXAMPLE%5Cbob%20smith" and fields["url"] == "http://bad.test/a%20b"


@given(url=st.text(min_size=1, max_size=40), user=st.one_of(st.none(), st.text(max_size=20)),
       reason=st.text(max_size=40), category=st.one_of(st.none(), st.text(max_size=20)))
def test_any_value_gives_one_line_of_the_native_format(url, user, reason, category):
    outcome = message("RESPMOD", Verdict.block(reason, category), url=url, user=user,
                      http_status=200, content_type="text/html")
    line = squid_line(outcome, (), None, NOW)
    assert line is not None and "\n" not in line and SQUID_NATIVE.match(line), line
    e2g = e2guardian_line(outcome, (), None, NOW)
    assert e2g is not None and "\n" not in e2g and "\r" not in e2g


# e2guardian 5.3.5 (Debian 5.3.5-4+deb12u1), logfileformat = 1, ICAP mode: the line it
# wrote for a RESPMOD blocked by weighted phrases, user bob at 10.1.2.3 (the time
# replaced by {when}). Reproduce with tests/e2guardian_oracle.py and logfileformat = 1.
E2G_REFERENCE = ("{when}  bob 10.1.2.3 http://a.example.com/x.html *DENIED* ICAP Response "
                 "filtering: Blocked by Content Checking. GET 1226 563 Pornography 1 403 - "
                 "10.1.2.3 no_name_group - - - - -")


def test_e2guardian_line_matches_what_e2guardian_writes():
    verdict = Verdict.block("ICAP Response filtering: Blocked by Content Checking.",
                            "Pornography", group="no_name_group", score=563)
    outcome = Outcome(service="respmod", method="RESPMOD", url="http://a.example.com/x.html",
                      client=Client("10.1.2.3", "bob"), status=200, verdict=verdict,
                      http_method="GET", http_status=200, content_type="text/html",
                      page_bytes=1226)
    when = time.strftime("%Y.%m.%d %H:%M:%S", time.localtime(NOW))
    line = e2guardian_line(outcome, (), None, NOW, groups=["no_name_group", "older"])
    assert line == E2G_REFERENCE.format(when=when)


def test_e2guardian_line_of_an_allowed_page_and_an_exception():
    allowed = message("RESPMOD", Verdict.allow("clean", group="staff", score=12),
                      url="http://ok.test/", http_status=200, body_bytes=512,
                      content_type="text/html; charset=utf-8")
    fields = e2guardian_line(allowed, (), None, NOW, groups=["default", "staff"]).split()
    assert fields[2:] == ["-", "10.0.0.7", "http://ok.test/", "-", "GET", "512", "12", "-",
                          "2", "200", "text/html", "10.0.0.7", "staff", "-", "-", "-", "-",
                          "-"]
    exception = message("REQMOD", Verdict.allow("exception list school", category="school"),
                        http_method="CONNECT", url="school.test:443")
    assert " *EXCEPTION* exception list school CONNECT 0 0 school " in e2guardian_line(
        exception, (), None, NOW)


@pytest.mark.parametrize("fmt", ["squid", "e2guardian"])
def test_the_access_log_writes_one_line_per_page(tmp_path, fmt):
    path = tmp_path / "access.log"
    log = AccessLog(str(path), fmt)
    log(message("OPTIONS", None, url="-"), ("127.0.0.1", 1), None)
    log(message("REQMOD", Verdict.allow("not listed")), ("127.0.0.1", 1), None)
    log(message("RESPMOD", Verdict.allow("clean"), http_status=200), ("127.0.0.1", 1), None)
    log(message("REQMOD", BLOCK), ("127.0.0.1", 1), None)
    log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert ("TCP_DENIED/403" if fmt == "squid" else "*DENIED* listed in adult") in lines[1]


def test_a_safesearch_header_rewrite_is_logged_once_at_respmod():
    youtube = replace(Verdict.allow("not listed"), set_request_headers=(
        ("YouTube-Restrict", "Strict"),))
    assert squid(message("REQMOD", youtube)) is None
    fields = squid(message("RESPMOD", Verdict.allow("clean"), http_status=200))
    assert fields is not None and fields["tag"] == "TCP_MISS"
