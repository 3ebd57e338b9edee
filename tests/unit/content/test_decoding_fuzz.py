"""Differential fuzzing of the Content-Encoding decoders.

Bodies are built from random text, a random chain of encodings (gzip with
several members, deflate zlib-wrapped and raw, br, zstd with several frames,
identity), then maybe truncated or followed by garbage, and fed in a random
chunking. What comes out must be what the reference decoders (gzip, zlib,
brotli, zstandard) give for the same bytes: exactly for a valid body, a
prefix of it for a damaged one, never more than the cap, in small pieces,
and quickly. Both inflate implementations (stdlib zlib, ISA-L) are drawn.
"""

from __future__ import annotations

import gzip
import io
import time
import zlib

import brotli
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icapfilter.content import inflate as inflate_mod
from icapfilter.content.decoding import ContentDecoder

BACKENDS = [zlib] + ([inflate_mod.fast_zlib] if inflate_mod.fast_zlib is not None else [])
CODINGS = ("gzip", "deflate", "deflate-raw", "br", "zstd", "identity")
BIGGEST_PIECE = 128 << 10


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def encode(data: bytes, coding: str, parts: list[int], level: int) -> bytes:
    if coding == "gzip":  # one member per part
        return b"".join(gzip.compress(p, level) for p in _split(data, parts))
    if coding == "deflate":
        return zlib.compress(data, level)
    if coding == "deflate-raw":
        comp = zlib.compressobj(level, zlib.DEFLATED, -15)
        return comp.compress(data) + comp.flush()
    if coding == "br":
        return brotli.compress(data, quality=min(level, 11))
    if coding == "zstd":  # one frame per part
        cctx = zstandard.ZstdCompressor(level=level, write_checksum=bool(level % 2))
        return b"".join(cctx.compress(p) for p in _split(data, parts))
    return data


def reference(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "deflate":
        return zlib.decompress(data)
    if coding == "deflate-raw":
        return zlib.decompress(data, -15)
    if coding == "br":
        return brotli.decompress(data)
    if coding == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data),
                                                            read_across_frames=True)
        return reader.read()
    return data


def run(body: bytes, header: str, cap: int, cuts: list[int]):
    d = ContentDecoder(header, cap)
    out = bytearray()
    biggest = 0
    start = time.process_time()
    for chunk in _split(body, cuts):
        for piece in d.feed(chunk):
            out += piece
            biggest = max(biggest, len(piece))
    for piece in d.finish():
        out += piece
        biggest = max(biggest, len(piece))
    return bytes(out), d, biggest, time.process_time() - start


text = st.builds(lambda unit, times: (unit * times)[:300_000],
                 st.binary(min_size=1, max_size=2000), st.integers(1, 200))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plain=text,
    chain=st.lists(st.sampled_from(CODINGS), min_size=0, max_size=3),
    parts=st.lists(st.integers(0, 1 << 20), max_size=3),
    level=st.integers(1, 9),
    damage=st.sampled_from(["none", "truncate", "garbage"]),
    damage_at=st.integers(0, 1 << 20),
    garbage=st.binary(min_size=1, max_size=64),
    cap=st.sampled_from([1, 1000, 65536, 200_000, 10**7]),
    cuts=st.lists(st.integers(0, 1 << 20), max_size=8),
    backend=st.sampled_from(BACKENDS),
)
def test_decoders_agree_with_the_reference(plain, chain, parts, level, damage, damage_at,
                                           garbage, cap, cuts, backend):
    body = plain
    for coding in chain:
        body = encode(body, coding, parts, level)
    check = body
    for coding in reversed(chain):  # the construction is valid for the references too
        check = reference(check, coding)
    assert check == plain
    if damage == "garbage" and all(c == "identity" for c in chain):
        damage = "none"  # without an encoding, bytes added are content
    if damage == "truncate":
        body = body[: damage_at % (len(body) + 1)]
    elif damage == "garbage":
        body = body + b"\xff" + garbage  # 0xff starts no gzip member nor zstd frame
    header = ", ".join("deflate" if c == "deflate-raw" else c for c in chain)
    saved = inflate_mod.INFLATE
    inflate_mod.INFLATE = backend
    try:
        out, d, biggest, spent = run(body, header, cap, cuts)
    finally:
        inflate_mod.INFLATE = saved
    assert plain.startswith(out)
    assert len(out) <= cap and biggest <= BIGGEST_PIECE
    assert spent < 2.0
    if damage != "truncate" and not d.truncated:
        assert out == plain, d.notes
    if damage == "none" and cap >= 4 * len(plain) + 100_000:
        assert out == plain and not d.truncated and d.notes == []
    if damage == "none" and len(plain) > cap:
        assert d.truncated


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=5000),
    chain=st.lists(st.sampled_from(["gzip", "deflate", "br", "zstd", "identity", "x-gzip"]),
                   max_size=4),
    cuts=st.lists(st.integers(0, 5000), max_size=6),
    backend=st.sampled_from(BACKENDS),
)
def test_garbage_never_raises_and_stays_bounded(body, chain, cuts, backend):
    saved = inflate_mod.INFLATE
    inflate_mod.INFLATE = backend
    try:
        out, d, biggest, spent = run(body, ", ".join(chain), 100_000, cuts)
    finally:
        inflate_mod.INFLATE = saved
    assert len(out) <= 100_000 and biggest <= BIGGEST_PIECE and spent < 1.0
    if not [c for c in chain if c != "identity"]:
        assert out == body
