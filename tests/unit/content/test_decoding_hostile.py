"""Bodies built to hurt the decoder: they must cost little and decode right."""

from __future__ import annotations

import gzip
import time
import zlib

import pytest

from icapfilter.content import inflate as inflate_mod
from icapfilter.content.decoding import MAX_ENCODINGS, ContentDecoder, DecodeRefused
from icapfilter.phrases import BodyScan, load_phrase_set
from tests.unit.phrases.listhelpers import write

BACKENDS = [zlib] + ([inflate_mod.fast_zlib] if inflate_mod.fast_zlib is not None else [])


@pytest.fixture(autouse=True, params=BACKENDS, ids=lambda m: m.__name__)
def inflate(request, monkeypatch):
    """Every test runs with stdlib zlib (the default install) and, if present, ISA-L."""
    monkeypatch.setattr(inflate_mod, "INFLATE", request.param)
    return request.param


def member(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def decode(body: bytes, enc: str | None, cap: int = 10**8, step: int = 65536):
    d = ContentDecoder(enc, cap)
    n = 0
    out = bytearray()
    for i in range(0, len(body), step):
        for piece in d.feed(body[i : i + step]):
            n += len(piece)
            if len(out) < 1 << 20:
                out += piece
    for piece in d.finish():
        n += len(piece)
        if len(out) < 1 << 20:
            out += piece
    return n, bytes(out), d


@pytest.mark.parametrize("step", [1, 7, 520, 65536])
def test_five_members_whose_output_fills_the_piece_limit_decode_to_exactly_their_size(step):
    # Each member inflates to 70,000 bytes: the first decompress call stops at
    # the 64 KiB piece limit, so the member ends in a later call. stdlib zlib
    # then keeps the next members' bytes in unconsumed_tail *and* unused_data.
    body = member(b"A" * 70000) * 5
    assert len(body) < 600
    n, out, d = decode(body, "gzip", step=step)
    assert n == 350_000 and out == b"A" * 350_000
    assert d.notes == [] and not d.truncated


def test_a_phrase_in_a_sixth_member_is_found(tmp_path):
    ps, _ = load_phrase_set([write(tmp_path / "b", "<forbidden words>\n")], [], [])
    body = member(b"A" * 70000) * 5 + member(b"<p>forbidden words</p>")
    scan = BodyScan(ps, content_type="text/html", content_encoding="gzip")
    scan.feed(body)
    result = scan.finish()
    assert result.blocked and result.bytes_scanned == 350_000 + 22


def _empty_stored_blocks(count: int, per: int = 100_000):
    block = b"\x00\x00\x00\xff\xff" * per  # non-final stored blocks of length 0
    for _ in range(count // per):
        yield block
    yield b"\x01\x00\x00\xff\xff"


def _gzip_stream(chunks, level: int):
    comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    for chunk in chunks:
        if out := comp.compress(chunk):
            yield out
    yield comp.flush()


@pytest.fixture(scope="module")
def nothing_bomb() -> bytes:
    """`deflate, gzip, gzip` of 200 MB of empty deflate blocks: about 3 KB
    that decode to nothing at all."""
    return b"".join(_gzip_stream(_gzip_stream(_empty_stored_blocks(40_000_000), 1), 9))


def test_a_chain_that_decodes_to_nothing_costs_little_cpu(nothing_bomb):
    # Before inner stages had a budget this took ~0.5 s for 3 KB (linear in
    # the inner size); bounded by max_decoded_bytes per stage it is a few ms.
    assert len(nothing_bomb) < 4000
    start = time.process_time()
    n, _, d = decode(nothing_bomb, "deflate, gzip, gzip", cap=8 << 20, step=1024)
    spent = time.process_time() - start
    assert n == 0 and d.truncated
    assert "inside the gzip encoding" in d.notes[-1]
    assert spent < 0.15, spent


def test_a_flood_of_empty_gzip_members_is_charged_to_the_budget():
    body = gzip.compress(b"", 9) * 400_000  # 8 MB of members with no output
    start = time.process_time()
    n, _, d = decode(body, "gzip", cap=8 << 20)
    spent = time.process_time() - start
    assert n == 0 and d.truncated and "work budget" in d.notes[0]
    assert spent < 0.1, spent


def test_members_before_the_budget_runs_out_still_decode():
    body = gzip.compress(b"x") * 100
    n, out, d = decode(body, "gzip", cap=8 << 20)
    assert out == b"x" * 100 and not d.notes


def test_a_deep_chain_is_refused_at_once_not_by_recursion():
    with pytest.raises(DecodeRefused, match="1000 stacked"):
        ContentDecoder(", ".join(["gzip"] * 1000), 1 << 20)


def test_the_longest_accepted_chain_decodes():
    body = b"<p>deep</p>" * 100
    encoded = body
    for _ in range(MAX_ENCODINGS):
        encoded = gzip.compress(encoded)
    _, out, d = decode(encoded, ", ".join(["gzip"] * MAX_ENCODINGS), step=5)
    assert out == body and not d.notes
    with pytest.raises(DecodeRefused):
        ContentDecoder(", ".join(["gzip"] * (MAX_ENCODINGS + 1)), 1 << 20)


def test_identity_tokens_do_not_count_towards_the_chain():
    ContentDecoder(", ".join(["identity"] * 50 + ["gzip"]), 1 << 20)


def test_pieces_stay_bounded_in_a_chain_of_bombs():
    zeros = gzip.compress(gzip.compress(bytes(50 << 20)))
    d = ContentDecoder("gzip, gzip", 4 << 20)
    biggest = total = 0
    for piece in d.feed(zeros):
        biggest, total = max(biggest, len(piece)), total + len(piece)
    assert total == 4 << 20 and d.truncated and biggest <= 128 << 10


@pytest.mark.parametrize("token", ["dcb", "dcz", "gzip, dcz"])
def test_shared_dictionary_encodings_are_refused_not_left_unscanned(token):
    # Chromium renders dcb/dcz bodies; passing them unscanned would be a bypass.
    with pytest.raises(DecodeRefused, match="shared dictionary"):
        ContentDecoder(token, 1 << 20)


def test_an_encoding_no_browser_knows_is_left_unscanned():
    d = ContentDecoder("x-made-up", 1 << 20)
    assert d.unsupported
