from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icapfilter.content import inflate as inflate_mod
from icapfilter.content.decoding import ContentDecoder
from icapfilter.phrases import BodyScan, load_phrase_set
from icapfilter.scan_settings import ScanSettings
from tests.unit.phrases.listhelpers import write

DATA = b"<p>hello compressed world</p>" * 2000
BACKENDS = [zlib] + ([inflate_mod.fast_zlib] if inflate_mod.fast_zlib is not None else [])


@pytest.fixture(autouse=True, params=BACKENDS, ids=lambda m: m.__name__)
def inflate(request, monkeypatch):
    """Every test here runs with zlib and, when installed, with ISA-L."""
    monkeypatch.setattr(inflate_mod, "INFLATE", request.param)
    return request.param


def decode(body: bytes, enc: str | None, cap: int = 10**8, step: int = 997):
    d = ContentDecoder(enc, cap)
    out = bytearray()
    for i in range(0, len(body), step):
        for piece in d.feed(body[i : i + step]):
            out += piece
    for piece in d.finish():
        out += piece
    return bytes(out), d


@pytest.mark.parametrize(
    "enc,body",
    [
        (None, DATA),
        ("identity", DATA),
        ("gzip", gzip.compress(DATA)),
        ("x-gzip", gzip.compress(DATA)),
        ("deflate", zlib.compress(DATA)),
        ("deflate", zlib.compress(DATA)[2:-4]),  # raw deflate, as some servers send
        ("gzip", gzip.compress(DATA[:5000]) + gzip.compress(DATA[5000:])),  # two members
        ("gzip, gzip", gzip.compress(gzip.compress(DATA))),
    ],
)
def test_encodings(enc, body):
    out, d = decode(body, enc)
    assert out == DATA and d.notes == [] and not d.truncated


def test_brotli():
    brotli = pytest.importorskip("brotli")
    out, d = decode(brotli.compress(DATA), "br", step=13)
    assert out == DATA and d.notes == []


def test_corrupt_and_truncated_streams_do_not_raise():
    good = gzip.compress(DATA)
    out, d = decode(good[:200] + b"\x00garbage" * 50, "gzip")
    assert d.notes and DATA.startswith(out)
    out, d = decode(good[: len(good) // 2], "gzip")
    assert "ended before" in d.notes[-1] and DATA.startswith(out) and out
    out, d = decode(b"<p>not gzip at all</p>", "gzip")
    assert out == b"<p>not gzip at all</p>" and d.notes
    out, d = decode(b"abc", "compress")
    assert out == b"" and d.unsupported


def test_corrupt_body_scan_still_reports(tmp_path):
    ps, _ = load_phrase_set([], [write(tmp_path / "w", "<hello><60>\n")], [])
    body = gzip.compress(DATA)[:300] + b"\xff" * 100
    s = BodyScan(ps, content_type="text/html", content_encoding="gzip")
    s.feed(body)
    r = s.finish()
    assert r.blocked and r.notes


def _bomb_chunks(total: int, block: int = 1 << 20):
    """A gzip stream of `total` zero bytes, produced and handed out lazily."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(block)
    for _ in range(total // block):
        out = comp.compress(zeros)
        if out:
            yield out
    yield comp.flush()


def test_decompression_bomb_stops_at_cap_with_flat_memory():
    cap = 4 << 20
    d = ContentDecoder("gzip", cap)
    tracemalloc.start()
    produced = 0
    fed = 0
    for chunk in _bomb_chunks(1 << 30):  # 1 GiB of zeros, ~1 MB compressed
        fed += len(chunk)
        for piece in d.feed(chunk):
            produced += len(piece)
        if d.done:
            break
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert d.truncated and produced == cap
    assert peak < 2 << 20  # pieces are 64 KiB; nothing near the 1 GiB
    assert fed < 1 << 20  # stopped long before the end of the compressed stream


def test_bomb_through_body_scan(tmp_path):
    ps, _ = load_phrase_set([], [write(tmp_path / "w", "<zzz><1>\n")], [])
    s = BodyScan(ps, ScanSettings(max_decoded_bytes=1 << 20), content_type="text/plain",
                 content_encoding="gzip")
    for chunk in _bomb_chunks(64 << 20):
        s.feed(chunk)
        if s.certain:
            break
    r = s.finish()
    assert r.truncated and r.bytes_scanned == 1 << 20 and not r.blocked
    assert r.reason == f"scan truncated at {1 << 20} bytes"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # it only picks the backend
@given(st.binary(max_size=3000), st.integers(1, 5000), st.sampled_from([1, 6, 9]))
def test_any_chunking_inflates_to_the_original(inflate, payload, step, level):
    body = (payload * 50)[:150_000]
    out, d = decode(gzip.compress(body, level), "gzip", step=step)
    assert out == body and not d.notes


def test_gzip_members_split_exactly_at_a_feed_boundary_are_all_decoded():
    first, second = gzip.compress(DATA[:5000]), gzip.compress(DATA[5000:])
    for cut in (len(first), len(first) + 1):  # at the boundary, and inside the magic
        body = first + second
        d = ContentDecoder("gzip", 10**8)
        out = b"".join(d.feed(body[:cut])) + b"".join(d.feed(body[cut:]))
        out += b"".join(d.finish())
        assert out == DATA and not d.notes, (cut, d.notes)
