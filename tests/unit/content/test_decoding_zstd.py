"""`Content-Encoding: zstd` (and `br`) decode on the default install, in bounded steps."""

from __future__ import annotations

import os
import random
import time

import brotli
import pytest
import zstandard

from icapfilter.content import zstd_stage
from icapfilter.content.decoding import ContentDecoder

DATA = b"<p>zstd pages are common now</p>" * 3000 + os.urandom(50_000)


def decode(body: bytes, enc: str = "zstd", cap: int = 10**8, step: int = 997):
    d = ContentDecoder(enc, cap)
    out = bytearray()
    biggest = 0
    for i in range(0, len(body), step):
        for piece in d.feed(body[i : i + step]):
            out += piece
            biggest = max(biggest, len(piece))
    for piece in d.finish():
        out += piece
        biggest = max(biggest, len(piece))
    d.biggest = biggest
    return bytes(out), d


def zstd(data: bytes, **params) -> bytes:
    return zstandard.ZstdCompressor(**params).compress(data)


@pytest.mark.parametrize("step", [1, 3, 997, 1 << 20])
def test_zstd_decodes_in_any_chunking(step):
    out, d = decode(zstd(DATA, level=3), step=step)
    assert out == DATA and d.notes == []


def test_concatenated_frames_and_skippable_frames_all_decode():
    skippable = b"\x5a\x2a\x4d\x18" + (6).to_bytes(4, "little") + b"ignore"
    body = zstd(DATA[:7000]) + skippable + zstd(DATA[7000:], write_checksum=True)
    out, d = decode(body, step=50)
    assert out == DATA and d.notes == []


def test_a_frame_without_content_size_decodes():
    comp = zstandard.ZstdCompressor(level=1).compressobj()
    body = comp.compress(DATA) + comp.flush()
    assert zstandard.get_frame_parameters(body).content_size == zstandard.CONTENTSIZE_UNKNOWN
    out, d = decode(body)
    assert out == DATA and d.notes == []


def test_a_zstd_bomb_stops_at_the_cap_quickly_in_small_pieces():
    comp = zstandard.ZstdCompressor(level=19).compressobj()
    bomb = b"".join(comp.compress(bytes(1 << 20)) for _ in range(256)) + comp.flush()
    assert len(bomb) < 16 << 10  # 256 MiB of zeros
    start = time.process_time()
    out, d = decode(bomb, cap=4 << 20, step=65536)
    assert d.truncated and len(out) <= 4 << 20 and len(out) > 3 << 20
    assert d.biggest <= 128 << 10
    assert time.process_time() - start < 0.5


def test_a_window_larger_than_browsers_accept_is_not_decoded():
    params = zstandard.ZstdCompressionParameters(window_log=24)
    body = zstandard.ZstdCompressor(compression_params=params).compress(os.urandom(1000) * 20_000)
    out, d = decode(body)
    assert out == b"" and "window" in d.notes[0]


def test_a_window_of_8_mib_is_accepted():
    params = zstandard.ZstdCompressionParameters(window_log=23)
    data = os.urandom(1000) * 10_000
    out, d = decode(zstandard.ZstdCompressor(compression_params=params).compress(data))
    assert out == data and d.notes == []


def test_truncated_corrupt_and_trailing_garbage():
    body = zstd(DATA, level=3)
    out, d = decode(body[: len(body) * 3 // 4])
    assert DATA.startswith(out) and "ended before" in d.notes[-1]
    out, d = decode(body + b"junk after")
    assert out == DATA and "trailing garbage" in d.notes[-1]
    out, d = decode(body + b"\r\n")
    assert out == DATA and d.notes == []
    out, d = decode(b"<p>not zstd</p>")
    assert out == b"" and "not a zstd stream" in d.notes[0]
    broken = bytearray(body)
    broken[zstandard.frame_header_size(body)] |= 0b110  # block type 3 is reserved
    out, d = decode(bytes(broken))
    assert out == b"" and "corrupt" in d.notes[-1]


def test_a_frame_needing_a_dictionary_is_reported():
    rng = random.Random(5)
    samples = [bytes(rng.choices(b"<p>abcdefgh </p>", k=300)) for _ in range(300)]
    dictionary = zstandard.train_dictionary(4096, samples)
    body = zstandard.ZstdCompressor(dict_data=dictionary).compress(DATA)
    out, d = decode(body)
    assert out == b"" and "dictionary" in d.notes[0]


def test_zstd_inside_a_chain():
    import gzip

    out, d = decode(gzip.compress(brotli.compress(zstd(DATA))), "zstd, br, gzip", step=333)
    assert out == DATA and d.notes == []


def test_brotli_pieces_stay_bounded():
    bomb = brotli.compress(bytes(64 << 20))
    out, d = decode(bomb, "br", cap=8 << 20, step=len(bomb))
    assert d.truncated and len(out) == 8 << 20 and d.biggest <= 128 << 10


def test_zstd_and_br_are_part_of_the_default_install():
    # setup.cfg lists both in install_requires: a page must never pass
    # unscanned because an optional extra was left out.
    assert zstd_stage.AVAILABLE
    ContentDecoder("br", 1)


def test_br_output_before_trailing_garbage_in_the_same_chunk_is_kept():
    # The binding fails the whole call when garbage follows the end of the
    # stream, losing its output; browsers show that output, so it is recovered.
    body = brotli.compress(DATA) + b"\xffgarbage after the end"
    out, d = decode(body, "br", step=len(body))
    assert out == DATA and "trailing garbage" in d.notes[-1]

