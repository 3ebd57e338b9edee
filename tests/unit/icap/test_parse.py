"""The sans-IO parser: tables of bytes -> values or the ICAP status to answer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icapfilter.icap import render
from icapfilter.icap.errors import IcapProtocolError
from icapfilter.icap.parse import (
    Chunk,
    ChunkDecoder,
    EndOfBody,
    Limits,
    attach_heads,
    heads_length,
    parse_encapsulated,
    parse_icap_head,
)

REQ = b"GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\n\r\n"
RES = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"


def head(first: str, *headers: str) -> bytes:
    return ("\r\n".join([first, *headers]) + "\r\n\r\n").encode()


def test_parses_a_respmod_head_and_its_encapsulated_heads():
    raw = head("RESPMOD icap://icap.example:1344/respmod?x=1 ICAP/1.0", "Host: icap.example",
               f"Encapsulated: req-hdr=0, res-hdr={len(REQ)}, res-body={len(REQ) + len(RES)}",
               "Preview: 1024", "Allow: 204, 206")
    request = parse_icap_head(raw)
    assert request.method == "RESPMOD"
    assert request.service == "respmod"
    assert request.preview == 1024
    assert request.allows(204) and request.allows(206) and not request.allows(200)
    assert request.body_kind == "res-body"
    request = attach_heads(request, REQ + RES)
    assert request.http_request.url == "http://example.com/a"
    assert request.http_response.status == 200
    assert request.http_response.headers.get("content-type") == "text/html"


def test_origin_form_target_is_rebuilt_from_host():
    req = b"GET /path?q=1 HTTP/1.1\r\nHost: www.example.org\r\n\r\n"
    raw = head("REQMOD icap://x/reqmod ICAP/1.0", f"Encapsulated: req-hdr=0, null-body={len(req)}")
    request = attach_heads(parse_icap_head(raw), req)
    assert request.http_request.url == "http://www.example.org/path?q=1"


def test_connect_target_is_kept_as_host_port():
    req = b"CONNECT blocked.example:443 HTTP/1.1\r\nHost: blocked.example:443\r\n\r\n"
    raw = head("REQMOD icap://x/reqmod ICAP/1.0", f"Encapsulated: req-hdr=0, null-body={len(req)}")
    assert attach_heads(parse_icap_head(raw), req).http_request.url == "blocked.example:443"


def test_options_needs_no_encapsulated():
    request = parse_icap_head(head("OPTIONS icap://x/respmod ICAP/1.0", "Host: x"))
    assert request.method == "OPTIONS" and not request.has_body


def test_folded_header_lines_are_joined():
    request = parse_icap_head(head("OPTIONS icap://x/reqmod ICAP/1.0", "X-Long: a", "  b"))
    assert request.headers.get("x-long") == "a b"


@pytest.mark.parametrize("raw,status", [
    (b"garbage\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod HTTP/1.1\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/2.0\r\nEncapsulated: null-body=0\r\n\r\n", 505),
    (b"DELETE icap://x/reqmod ICAP/1.0\r\n\r\n", 501),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nHost x\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nHost: x\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=zero, null-body=5\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: null-body=5, req-hdr=0\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, res-body=50\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=0\r\n\r\n", 400),
    (b"RESPMOD icap://x/respmod ICAP/1.0\r\nEncapsulated: req-hdr=0, res-body=40\r\n\r\n", 400),
    (b"RESPMOD icap://x/respmod ICAP/1.0\r\nEncapsulated: res-hdr=0, req-hdr=9, res-body=40"
     b"\r\n\r\n", 400),
    (b"RESPMOD icap://x/respmod ICAP/1.0\r\nPreview: -1\r\nEncapsulated: res-hdr=0, null-body=9"
     b"\r\n\r\n", 400),
    (b"REQMOD mailto:x ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=9\r\n\r\n", 400),
    (b"REQMOD icap://x/reqmod ICAP/1.0\r\nBad Name: y\r\n\r\n", 400),
])
def test_malformed_heads_name_their_status(raw, status):
    with pytest.raises(IcapProtocolError) as info:
        parse_icap_head(raw)
    assert info.value.status == status


def test_too_many_header_fields_is_431():
    raw = head("OPTIONS icap://x/reqmod ICAP/1.0", *[f"X-{i}: y" for i in range(200)])
    with pytest.raises(IcapProtocolError) as info:
        parse_icap_head(raw)
    assert info.value.status == 431


def test_oversized_head_is_431():
    raw = head("OPTIONS icap://x/reqmod ICAP/1.0", "X-Big: " + "a" * 70000)
    with pytest.raises(IcapProtocolError) as info:
        parse_icap_head(raw, Limits(max_head_bytes=65536))
    assert info.value.status == 431


def test_encapsulated_head_must_end_at_the_next_offset():
    raw = head("RESPMOD icap://x/respmod ICAP/1.0",
               f"Encapsulated: req-hdr=0, res-hdr={len(REQ) - 2}, null-body={len(REQ) + len(RES)}")
    request = parse_icap_head(raw)
    with pytest.raises(IcapProtocolError):
        attach_heads(request, REQ + RES)


def test_heads_length_is_the_body_offset():
    raw = head("REQMOD icap://x/reqmod ICAP/1.0", f"Encapsulated: req-hdr=0, req-body={len(REQ)}")
    assert heads_length(parse_icap_head(raw)) == len(REQ)


def test_encapsulated_for_options_may_carry_null_body():
    assert parse_encapsulated("null-body=0", "OPTIONS") == (("null-body", 0),)


# -- chunked bodies -------------------------------------------------------------

def decode_all(data: bytes, pieces: list[int] | None = None) -> tuple[bytes, bool, bytes]:
    decoder = ChunkDecoder()
    events = []
    if pieces is None:
        events = decoder.feed(data)
    else:
        start = 0
        for size in pieces:
            events += decoder.feed(data[start:start + size])
            start += size
        events += decoder.feed(data[start:])
    body = b"".join(e.data for e in events if isinstance(e, Chunk))
    ends = [e for e in events if isinstance(e, EndOfBody)]
    assert len(ends) == 1
    return body, ends[0].ieof, decoder.leftover


def test_chunks_and_ieof():
    assert decode_all(b"3\r\nabc\r\n0; ieof\r\n\r\n") == (b"abc", True, b"")
    assert decode_all(b"3;name=v\r\nabc\r\n0\r\n\r\nNEXT") == (b"abc", False, b"NEXT")


def test_trailer_fields_are_skipped():
    assert decode_all(b"1\r\na\r\n0\r\nX-T: 1\r\n\r\n") == (b"a", False, b"")


@pytest.mark.parametrize("data,status", [
    (b"zz\r\nabc\r\n", 400),
    (b"-3\r\nabc\r\n", 400),
    (b"3\r\nabcdef\r\n", 400),
    (b"1" * 300, 413),
    (b"1" * 20 + b"\r\n", 400),
])
def test_bad_chunks_raise_with_status(data, status):
    with pytest.raises(IcapProtocolError) as info:
        ChunkDecoder().feed(data)
    assert info.value.status == status


@given(st.binary(max_size=3000), st.integers(1, 700), st.lists(st.integers(0, 50), max_size=40),
       st.booleans())
def test_any_split_of_a_chunked_body_decodes_the_same(body, chunk_size, pieces, ieof):
    encoded = b"".join(render.chunk(body[i:i + chunk_size])
                       for i in range(0, len(body), chunk_size))
    encoded += b"0; ieof\r\n\r\n" if ieof else render.LAST_CHUNK
    assert decode_all(encoded + b"REST", pieces) == (body, ieof, b"REST")


@given(st.binary(max_size=400))
def test_garbage_heads_raise_only_protocol_errors(data):
    try:
        request = parse_icap_head(data + b"\r\n\r\n")
    except IcapProtocolError as exc:
        assert 400 <= exc.status < 600
        return
    try:
        attach_heads(request, b"x" * heads_length(request))
    except IcapProtocolError:
        pass


@given(st.binary(max_size=400))
def test_garbage_chunks_raise_only_protocol_errors(data):
    try:
        ChunkDecoder().feed(data)
    except IcapProtocolError:
        pass


def test_render_computes_encapsulated_offsets():
    out = render.icap_response(200, [("ISTag", '"x"')], res_hdr=RES, body=True)
    assert f"Encapsulated: res-hdr=0, res-body={len(RES)}".encode() in out
    assert out.endswith(RES)
    out = render.icap_response(200, [], req_hdr=REQ, body=False)
    assert f"Encapsulated: req-hdr=0, null-body={len(REQ)}".encode() in out


def test_render_refuses_header_injection():
    with pytest.raises(ValueError):
        render.icap_response(200, [("X-Category", "a\r\nEvil: 1")])


_field_line = st.one_of(
    st.tuples(
        st.text(alphabet="Ab-_!~", min_size=1, max_size=8), st.binary(max_size=12)
    ).map(lambda nv: nv[0].encode() + b":" + nv[1]),
    st.sampled_from([b"", b" folded", b"\tfolded", b"no colon", b"bad name: x", b":x", b"X:\r"]),
)


@given(st.lists(_field_line, max_size=8), st.integers(1, 6))
def test_the_one_pass_field_parser_agrees_with_the_line_by_line_one(lines, max_fields):
    """Same headers, or the same error, for any field lines, plain or odd."""
    from icapfilter.icap.parse import parse_field_block, parse_header_fields

    limits = Limits(max_header_fields=max_fields)
    block = b"".join(line + b"\r\n" for line in lines)

    def outcome(parse, arg):  # noqa: ANN001, ANN202
        try:
            return parse(arg, limits, "head")
        except IcapProtocolError as exc:
            return (str(exc), exc.status)

    lines_form = block[:-2].split(b"\r\n")
    assert outcome(parse_field_block, block) == outcome(parse_header_fields, lines_form)


@pytest.mark.parametrize("encapsulated", [
    "req-hdr=0, null-body=999999999",
    "req-hdr=0, res-hdr=100, res-body=70000",
])
def test_encapsulated_heads_longer_than_the_head_limit_are_431_before_reading(encapsulated):
    head = (f"RESPMOD icap://x/respmod ICAP/1.0\r\nEncapsulated: {encapsulated}\r\n\r\n"
            if "res" in encapsulated else
            f"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: {encapsulated}\r\n\r\n")
    with pytest.raises(IcapProtocolError) as info:
        parse_icap_head(head.encode(), Limits(max_head_bytes=65536))
    assert info.value.status == 431


def test_encapsulated_heads_up_to_the_limit_each_are_accepted():
    head = (b"RESPMOD icap://x/respmod ICAP/1.0\r\n"
            b"Encapsulated: req-hdr=0, res-hdr=65536, res-body=131072\r\n\r\n")
    assert parse_icap_head(head, Limits(max_head_bytes=65536)).encapsulated[-1][1] == 131072
