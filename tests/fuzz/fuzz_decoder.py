"""Fuzz the Content-Encoding decoders against the reference decoders.

The first byte picks the encoding chain and the inflate implementation, the
second the size of the chunks the body is fed in; the rest is the body. The
decoder must never raise, never hand out more than the cap or a piece over
128 KiB, and, when the reference decoder (gzip, zlib, brotli, zstandard)
accepts the same bytes, give exactly what it gives.

Run it longer (docs/operations.md, Fuzzing)::

    python tests/fuzz/fuzz_decoder.py FINDINGS_DIR tests/fuzz/corpus/decoder \\
        -max_total_time=600
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib

import atheris

with atheris.instrument_imports():
    import brotli
    import zstandard

    from icapfilter.content import inflate
    from icapfilter.content.decoding import ContentDecoder

CHAINS = ("gzip", "deflate", "br", "zstd", "gzip, gzip", "deflate, gzip", "zstd, br", "identity")
BACKENDS = [zlib] + ([inflate.fast_zlib] if inflate.fast_zlib is not None else [])
CAP = 1 << 20


def _reference(body: bytes, chain: str) -> bytes | None:
    try:
        if chain == "gzip":
            return gzip.decompress(body)
        if chain == "deflate":
            return zlib.decompress(body)
        if chain == "br":
            return brotli.decompress(body)
        if chain == "zstd":
            reader = zstandard.ZstdDecompressor(max_window_size=8 << 20).stream_reader(
                io.BytesIO(body), read_across_frames=True)
            return reader.read(CAP + 1)
    except Exception:  # noqa: BLE001 - the reference refuses: nothing to compare
        return None
    return None


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    chain = CHAINS[data[0] % len(CHAINS)]
    inflate.INFLATE = BACKENDS[(data[0] // len(CHAINS)) % len(BACKENDS)]
    step = 1 + data[1] * 7
    body = data[2:]
    decoder = ContentDecoder(chain, CAP)
    out = bytearray()
    for i in range(0, len(body), step):
        for piece in decoder.feed(body[i : i + step]):
            if len(piece) > 128 << 10:
                raise AssertionError(f"piece of {len(piece)} bytes")
            out += piece
    for piece in decoder.finish():
        out += piece
    if len(out) > CAP:
        raise AssertionError(f"{len(out)} bytes out, over the cap")
    if chain == "identity" and bytes(out) != body:
        raise AssertionError("identity changed the body")
    expected = _reference(body, chain)
    refused = any(w in n for n in decoder.notes for w in ("window", "dictionary", "budget"))
    if expected is not None and not refused and not decoder.truncated:
        if bytes(out) != expected[:CAP]:
            raise AssertionError(f"{chain}: {len(out)} bytes differ from the reference's "
                                 f"{len(expected)} ({decoder.notes})")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
