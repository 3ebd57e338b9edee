from __future__ import annotations

import pytest

from icapfilter.content.types import is_html, is_scannable


@pytest.mark.parametrize(
    "ct,ok",
    [
        ("text/html", True),
        ("Text/HTML; charset=UTF-8", True),
        ("application/xhtml+xml", True),
        ("application/json;charset=utf-8", True),
        ("application/javascript", True),
        ("text/javascript", True),
        ("text/plain", True),
        ("image/png", False),
        ("application/octet-stream", False),
        ("", False),
        (None, False),
    ],
)
def test_default_types(ct, ok):
    assert is_scannable(ct, None) is ok


def test_custom_list_and_wildcards():
    assert is_scannable("text/csv", ["text/*"])
    assert not is_scannable("text/html", ["application/json"])
    assert is_scannable("TEXT/CSV ; x=y", [" Text/CSV "])


def test_is_html():
    assert is_html("text/html; charset=x") and is_html(None) and not is_html("text/plain")
