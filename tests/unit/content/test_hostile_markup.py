"""Hostile markup costs linear time: a tag that never closes once made the
extractor backtrack quadratically (40 KB of '<a' took 7 s)."""

from __future__ import annotations

import pytest

from icapfilter.content.html_text import HtmlTextExtractor

HOSTILE = {
    "unclosed tags": "<a" * 500_000,
    "unclosed quoted values": '<a="' * 250_000,
    "attributes without end": "<a b=c " * 150_000,
    "lone brackets": "<" * 1_000_000,
    "quotes holding >": '<a b="x>' * 120_000,
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("step", [None, 8192])
def test_hostile_markup_of_a_megabyte_is_extracted_in_linear_time(name, step):
    doc = HOSTILE[name]
    extractor = HtmlTextExtractor()
    if step is None:
        text = extractor.feed(doc)
    else:
        text = "".join(extractor.feed(doc[i:i + step]) for i in range(0, len(doc), step))
    text += extractor.finish()
    assert len(text) <= len(doc)
