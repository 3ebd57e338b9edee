"""The access log in Squid's and e2guardian's formats, as written by a running
server behind a real Squid, read by a real log analyser (Calamaris); and the
category and reason in Squid's own access.log through ``%adapt::<last_h``."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.icapserver import IcapClient, reqmod, serving
from tests.polling import wait_until
from tests.squidserver import Squid, write_lists

pytestmark = [pytest.mark.integration, pytest.mark.squid]

# src/log/FormatSquidNative.cc: "%9ld.%03d %6ld %s %s/%03d %" PRId64 " %s %s %s %s%s/%s %s"
SQUID_NATIVE = re.compile(
    r"^(?P<time>\d{9,}\.\d{3}) (?P<elapsed> {0,5}\d+) (?P<client>\S+) "
    r"(?P<tag>[A-Z_]+)/(?P<status>\d{3}) (?P<bytes>\d+) (?P<method>\S+) (?P<url>\S+) "
    r"(?P<user>\S+) (?P<hier>[A-Z_]+)/(?P<host>\S+) (?P<type>\S+)$")

# Squid's native format plus the filter's ICAP answer headers, quoted: the
# lines squid.conf.example documents for Squid's own access.log.
SQUID_TAIL = """
logformat icapfilter %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt \
"%"{{X-Icapfilter-Category}}adapt::<last_h" "%"{{X-Icapfilter-Reason}}adapt::<last_h"
access_log stdio:{workdir}/access-icapfilter.log icapfilter
logformat icapfilter_icap %ts.%03tu %icap::rm %ru %icap::Hs \
"%"{{X-Icapfilter-Category}}icap::<h" "%"{{X-Icapfilter-Reason}}icap::<h"
icap_log stdio:{workdir}/icap.log icapfilter_icap
"""


def config(root: Path, fmt: str) -> tuple[Path, Path]:
    bl, phrases = write_lists(root)
    log = root / f"access-{fmt}.log"
    conf = root / f"icapfilter-{fmt}.toml"
    conf.write_text(f"""
[lists]
paths = ["{bl}"]

[phrases]
dir = "{phrases}"

[log]
access = "{log}"
format = "{fmt}"

[[groups]]
name = "default"
block = ["adult", "gambling"]
""")
    return conf, log


class SquidWithLog(Squid):
    def configuration(self) -> str:
        return super().configuration() + SQUID_TAIL.format(workdir=self.workdir)


def settled_lines(log: Path, port: int) -> list[str]:
    """The log's lines once every answer sent so far has its line: a blocked
    REQMOD for a marker URL is logged after them (and is left out here)."""
    marker = f"http://blocked.example.test/marker-{uuid.uuid4().hex}"
    with IcapClient(port) as client:
        client.transact(reqmod(marker))
    def with_marker() -> str | None:
        text = log.read_text()
        return text if marker in text else None

    text = wait_until(with_marker, timeout=10, message=f"no access log line for {marker}")
    return [line for line in text.splitlines() if line and marker not in line]


def squid_lines(path: Path, count: int) -> list[str] | None:
    lines = path.read_text().splitlines() if path.exists() else []
    return lines if len(lines) >= count else None


@pytest.fixture(scope="module")
def squid_format(tmp_path_factory, origin):
    root = tmp_path_factory.mktemp("squidlog")
    conf, log = config(root, "squid")
    with serving(conf) as port, SquidWithLog(port) as squid:
        pages = {
            "clean": origin.url("www.example.test", "/page/3000"),
            "listed": origin.url("blocked.example.test", "/page/100"),
            "phrase": origin.url("www.example.test", "/bad/2000"),
        }
        statuses = {name: squid.get(url).status for name, url in pages.items()}
        assert statuses == {"clean": 200, "listed": 403, "phrase": 403}
        lines = settled_lines(log, port)
        squid_own = wait_until(lambda: squid_lines(squid.workdir / "access-icapfilter.log", 3),
                               timeout=10)
        icap_log = wait_until(lambda: squid_lines(squid.workdir / "icap.log", 7), timeout=10)
        yield pages, lines, squid_own, log, icap_log


def test_one_page_gives_one_line_of_squids_native_format(squid_format):
    pages, lines, *_ = squid_format
    assert len(lines) == 3, lines
    by_url = {}
    for line in lines:
        match = SQUID_NATIVE.match(line)
        assert match, line
        by_url[match["url"]] = match.groupdict()
    clean, listed, phrase = (by_url[pages[name]] for name in ("clean", "listed", "phrase"))
    assert (listed["tag"], listed["status"], listed["hier"]) == ("TCP_DENIED", "403", "HIER_NONE")
    assert (phrase["tag"], phrase["status"]) == ("TCP_DENIED", "403")
    assert (clean["tag"], clean["status"], clean["type"]) == ("TCP_MISS", "200", "text/html")
    assert clean["hier"] == "HIER_DIRECT" and clean["host"] == "www.example.test"
    assert int(clean["bytes"]) == 3000
    assert {fields["client"] for fields in by_url.values()} == {"127.0.0.1"}
    assert {fields["method"] for fields in by_url.values()} == {"GET"}


def test_squids_own_log_and_ours_agree_on_each_page(squid_format):
    pages, lines, squid_own, *_ = squid_format
    ours = {m["url"]: m for m in map(SQUID_NATIVE.match, lines)}
    for line in squid_own:
        url = line.split()[6]
        if url not in pages.values():
            continue
        status = line.split()[3].split("/")[1]
        assert ours[url]["status"] == status and ours[url]["client"] == line.split()[2]


def test_squids_access_log_carries_the_category_and_reason(squid_format):
    pages, _, squid_own, *_ = squid_format
    by_url = {line.split()[6]: line for line in squid_own}
    assert by_url[pages["listed"]].endswith('"adult" "listed in adult"')
    assert by_url[pages["clean"]].endswith('"-" "-"')
    assert '"Banned words"' in by_url[pages["phrase"]]


def test_squids_icap_log_carries_them_per_icap_transaction(squid_format):
    pages, *_, icap_log = squid_format
    fields = [line.split(" ", 4)[1:] for line in icap_log]
    assert ["REQMOD", pages["listed"], "200", '"adult" "listed in adult"'] in fields
    assert ["RESPMOD", pages["phrase"], "200", '"Banned words" "banned phrase"'] in fields
    assert ["RESPMOD", pages["clean"], "204", '"-" "-"'] in fields


@pytest.mark.skipif(shutil.which("calamaris") is None,
                    reason="calamaris is not installed (the test command installs it)")
def test_calamaris_reads_the_log_and_counts_the_denied_requests(squid_format):
    _, lines, *_ = squid_format
    report = subprocess.run(["calamaris", "-a"], input="\n".join(lines) + "\n",
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert re.search(r"lines parsed:\s+lines\s+3\b", report), report
    assert re.search(r"invalid lines:\s+lines\s+0\b", report), report
    assert re.search(r"^ TCP_DENIED\s+2\b", report, re.M), report
    assert re.search(r"^ TCP_MISS\s+1\b", report, re.M), report


@pytest.mark.skipif(shutil.which("sarg") is None,
                    reason="sarg is not installed (the test command installs it)")
def test_sarg_reads_the_log_as_squids_and_reports_the_denied_pages(squid_format, tmp_path):
    pages, lines, *_ = squid_format
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    done = subprocess.run(["sarg", "-x", "-l", str(log), "-o", str(tmp_path / "report"),
                           "-d", "01/01/2000-01/01/2100"], capture_output=True, text=True,
                          timeout=120)
    assert "squid log format: 3 entries" in done.stderr + done.stdout, done.stderr
    assert "Records read: 3, written: 3, excluded: 0" in done.stderr + done.stdout
    denied = "".join(p.read_text(errors="replace")
                     for p in (tmp_path / "report").rglob("denied.html"))
    host = pages["listed"].split("/")[2].split(":")[0]
    assert host in denied and "www.example.test" in denied  # the URL and the phrase blocks


# e2guardian's logfileformat = 1 (src/FatController.cpp, log_listener, case 1)
E2GUARDIAN = re.compile(
    r"^\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d  (?P<user>\S+) (?P<client>\S+) (?P<url>\S+) "
    r"(?P<what>.+) (?P<method>[A-Z]+) (?P<size>\d+) (?P<weight>-?\d+) (?P<category>\S+) "
    r"(?P<number>\d+) (?P<status>\d{3}) (?P<type>\S+) (?P<host>\S+) (?P<group>\S+)"
    r" - - - - -$")


def test_e2guardian_format_behind_squid(tmp_path, origin):
    conf, log = config(tmp_path, "e2guardian")
    with serving(conf) as port, Squid(port) as squid:
        clean = origin.url("www.example.test", "/page/500")
        listed = origin.url("blocked.example.test", "/page/100")
        assert squid.get(clean).status == 200 and squid.get(listed).status == 403
        lines = settled_lines(log, port)
    assert len(lines) == 2, lines
    fields = {m["url"]: m for m in map(E2GUARDIAN.match, lines)}
    assert fields[listed]["what"] == "*DENIED* listed in adult"
    assert (fields[listed]["status"], fields[listed]["category"]) == ("403", "adult")
    assert (fields[clean]["what"], fields[clean]["status"], fields[clean]["size"]) == (
        "-", "200", "500")
    assert fields[clean]["group"] == "default" and fields[clean]["number"] == "1"
