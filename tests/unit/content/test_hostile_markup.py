"""Hostile markup costs linear time in both of e2guardian's passes and in
default mode's decoded view: tags that never close, brackets, references."""

from __future__ import annotations

import pytest

from icapfilter.phrases import BodyScan, load_phrase_set
from icapfilter.scan_settings import ScanSettings
from tests.unit.phrases.listhelpers import write

HOSTILE = {
    "unclosed tags": "<a" * 500_000,
    "unclosed quoted values": '<a="' * 250_000,
    "attributes without end": "<a b=c " * 150_000,
    "lone brackets": "<" * 1_000_000,
    "closing brackets": ">" * 1_000_000,
    "quotes holding >": '<a b="x>' * 120_000,
    "unfinished references": "&#" * 500_000,
    "spaces": " " * 1_000_000,
}


@pytest.fixture(scope="module")
def phrase_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("lists")
    ps, _ = load_phrase_set([], [write(d / "w", "<a b><5>\n< a ><5>\n")], [])
    return ps


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("step", [None, 8192])
@pytest.mark.parametrize("exact", [False, True])
def test_hostile_markup_of_a_megabyte_is_scanned_in_linear_time(phrase_set, name, step, exact):
    doc = HOSTILE[name].encode()
    scan = BodyScan(phrase_set, ScanSettings(e2guardian_exact=exact, max_scan_bytes=4 << 20),
                    content_type="text/html; charset=utf-8")
    for i in range(0, len(doc), step or len(doc)):
        scan.feed(doc[i : i + (step or len(doc))])
    result = scan.finish()
    assert result.bytes_scanned == len(doc)
