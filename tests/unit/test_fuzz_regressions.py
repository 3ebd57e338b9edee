"""Inputs the fuzzers (tests/fuzz) made crash, kept as plain regression tests.

Each was an exception other than the module's own error type: a 500 and a
traceback per request for the ICAP parser, a failed load of every list for the
list parsers. The minimized inputs are also in the seed corpora.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from icapfilter.icap.errors import IcapProtocolError
from icapfilter.icap.parse import parse_icap_head
from icapfilter.phrases.parser import ListParser
from icapfilter.urls.loader import load_lists
from icapfilter.urls.memory_store import MemoryStore

RESPMOD = (b"RESPMOD icap://127.0.0.1/respmod ICAP/1.0\r\nHost: 127.0.0.1\r\n%b\r\n"
           b"Encapsulated: %b\r\n\r\n")


@pytest.mark.parametrize("preview", [b"\xb3", b"1\xb2", b"\xb9"])
def test_preview_with_latin1_superscript_digits_is_a_400_not_a_crash(preview: bytes) -> None:
    # str.isdigit() accepts the latin-1 superscripts; int() then raised ValueError
    head = RESPMOD % (b"Preview: " + preview, b"req-hdr=0, res-hdr=10, res-body=20")
    with pytest.raises(IcapProtocolError, match="Preview") as err:
        parse_icap_head(head)
    assert err.value.status == 400


@pytest.mark.parametrize("offset", [b"10\xb3", b"\xb2", b"1\xb9"])
def test_encapsulated_offset_with_superscript_digits_is_a_400_not_a_crash(offset: bytes) -> None:
    head = RESPMOD % (b"X-Any: 1", b"req-hdr=0, res-hdr=59, res-body=" + offset)
    with pytest.raises(IcapProtocolError, match="Encapsulated") as err:
        parse_icap_head(head)
    assert err.value.status == 400


def test_plain_ascii_preview_and_offsets_still_parse() -> None:
    request = parse_icap_head(RESPMOD % (b"Preview: 1024", b"req-hdr=0, res-hdr=10, res-body=20"))
    assert request.preview == 1024
    assert request.encapsulated == (("req-hdr", 0), ("res-hdr", 10), ("res-body", 20))


def test_phrase_list_include_with_a_nul_byte_is_an_error_line_not_a_crash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "weightedphraselist"
    path.write_bytes(b".Include<ot\x00her>\n<porn><50>\n")
    parser = ListParser(list_dir=tmp_path)
    entries = parser.parse(path)
    assert [e.parts for e in entries] == [(b"porn",)]
    assert [(e.line, e.level) for e in parser.errors] == [(1, "error")]


def test_url_list_include_with_a_nul_byte_is_a_problem_not_a_failed_load(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "lists" / "adult"
    folder.mkdir(parents=True)
    (folder / "domains").write_bytes(b"a.test\n.Include<x\x00y>\nb.test\n")
    report = load_lists(MemoryStore(), [tmp_path / "lists"])
    assert report.activated
    assert any("NUL" in str(problem) for problem in report.problems), report.problems
