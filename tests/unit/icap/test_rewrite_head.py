"""Changing an encapsulated HTTP request head without re-rendering it."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icapfilter.icap.parse import parse_http_request_head
from icapfilter.icap.render import rewrite_http_head

HEAD = (b"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX-Mark: clean\r\n"
        b"X-Folded: one\r\n two\r\nAccept:  */*\r\n\r\n")


def test_dropped_field_goes_with_its_folded_lines_and_the_rest_is_byte_for_byte():
    out = rewrite_http_head(HEAD, drop=["x-folded", "X-MARK"])
    assert out == b"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nAccept:  */*\r\n\r\n"


def test_added_field_comes_last_and_parses():
    out = rewrite_http_head(HEAD, drop=["X-Mark"], add=[("X-Mark", "clean")])
    head = parse_http_request_head(out)
    assert head.headers.get_all("X-Mark") == ["clean"]
    assert head.headers.get("X-Folded") == "one two"
    assert out.endswith(b"X-Mark: clean\r\n\r\n")


def test_nothing_to_change_gives_the_same_bytes():
    assert rewrite_http_head(HEAD) == HEAD


names = st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=12)
values = st.text(alphabet=string.ascii_letters + string.digits + " /.;=", max_size=20)


@given(st.lists(st.tuples(names, values), max_size=8), names)
def test_drop_removes_exactly_the_named_field(fields, name):
    raw = b"GET / HTTP/1.1\r\n" + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in fields) + b"\r\n"
    out = parse_http_request_head(rewrite_http_head(raw, drop=[name]))
    expected = [(k, v.strip()) for k, v in fields if k.lower() != name.lower()]
    assert list(out.headers) == expected


@pytest.mark.parametrize(("line", "expected"), [
    (b"GET http://g.test/search?q=a&safe=off HTTP/1.1",
     b"GET http://g.test/search?q=a&safe=active HTTP/1.1"),
    (b"GET /search?q=a HTTP/1.1", b"GET /search?q=a&safe=active HTTP/1.1"),
    (b"GET /webhp HTTP/1.1", b"GET /webhp?q=a&safe=active HTTP/1.1"),
    (b"GET /search?q=b#frag HTTP/1.1", b"GET /search?q=a&safe=active#frag HTTP/1.1"),
])
def test_query_replaces_the_targets_query_in_either_form(line, expected):
    out = rewrite_http_head(line + b"\r\nHost: g.test\r\n\r\n", query="q=a&safe=active")
    assert out == expected + b"\r\nHost: g.test\r\n\r\n"


def test_an_empty_query_removes_the_question_mark():
    out = rewrite_http_head(b"GET /s?x=1 HTTP/1.1\r\n\r\n", query="")
    assert out == b"GET /s HTTP/1.1\r\n\r\n"


def test_a_lone_control_byte_of_the_target_goes_back_as_it_came():
    out = rewrite_http_head(b"GET /s?q=\x0b\r HTTP/1.1\r\n\r\n", query="q=\x0b\r&safe=active")
    assert out == b"GET /s?q=\x0b\r&safe=active HTTP/1.1\r\n\r\n"


@pytest.mark.parametrize("query", ["a b", "a\r\nX-Evil: 1"])
def test_a_query_that_would_break_the_request_line_is_refused(query):
    with pytest.raises(ValueError, match="break the request line"):
        rewrite_http_head(b"GET /s HTTP/1.1\r\n\r\n", query=query)
