"""The block page: every field escaped, a template's placeholders checked at load."""

from __future__ import annotations

import pytest

from icapfilter.blockpage import BlockPage
from icapfilter.verdict import Verdict


def test_block_page_escapes_every_field():
    page = BlockPage.default().render(
        Verdict.block("<b>reason</b>", "<i>cat</i>", phrases=("<script>p</script>",)),
        'http://x/"><script>alert(1)</script>', "10.0.0.1", "<img src=x onerror=alert(1)>",
    ).decode()
    for raw in ("<script>", "<img", "<b>", "<i>"):
        assert raw not in page
    assert "&lt;script&gt;" in page and "&quot;&gt;" in page


def test_block_page_template_with_unknown_placeholder_fails_at_load():
    with pytest.raises(ValueError, match=r"unknown placeholder \$nosuch"):
        BlockPage("<p>$nosuch</p>")
