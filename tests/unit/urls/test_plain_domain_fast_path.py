"""The loader's shortcut for canonical domain lines gives the general result."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icapfilter.urls import normalize
from icapfilter.urls.errors import InvalidEntry

label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
domain = st.lists(label, min_size=1, max_size=5).map(".".join)


def general(text: str) -> str | None:
    """normalize_entry with the shortcut disabled."""
    saved = normalize._PLAIN_DOMAIN
    normalize._PLAIN_DOMAIN = normalize.re.compile(r"(?!)")
    try:
        return normalize.normalize_entry(text, "domain")
    except InvalidEntry:
        return None
    finally:
        normalize._PLAIN_DOMAIN = saved


@given(st.one_of(domain, st.text(alphabet="abcxyz019-.w_", max_size=40)))
def test_shortcut_agrees_with_the_general_parse(text):
    if not normalize._PLAIN_DOMAIN.match(text):
        return
    assert normalize.normalize_entry(text, "domain") == general(text)


@pytest.mark.parametrize("text", ["example.com", "a.b-c.example.org", "0day.ru"])
def test_canonical_domains_take_the_shortcut(text):
    assert normalize._PLAIN_DOMAIN.match(text)


@pytest.mark.parametrize("text", ["1.2.3.4", "xn--bcher-kva.example", "Example.com",
                                  "www.example.com", "-a.com", "a..com", "com", "a_b.com"])
def test_other_forms_take_the_general_path(text):
    assert not normalize._PLAIN_DOMAIN.match(text) or normalize._DOMAIN_HOST_PREFIX.match(text)
