"""Lookups in a mapped image at the edges of its bucket index: keys at the first
and last hash of a bucket, hashes 0 and 2**64-1, no key at all, one key."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from icapfilter.urls.image import bucket_bits_for, encode_image, open_image
from icapfilter.urls.image_build import Packed, bucket_index, compile_packed

TOP = (1 << 64) - 1


def edges(count: int) -> set[int]:
    """The first and last hash of every bucket (of the first 64), and their neighbours."""
    bits = bucket_bits_for(count)
    found = {0, 1, TOP - 1, TOP}
    for bucket in range(min(1 << bits, 64)):
        start = bucket << (64 - bits) if bits else 0
        found |= {start, (start - 1) & TOP, start + 1}
    return found


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5, 8, 9, 16, 17, 100, 1000])
def test_every_key_is_found_with_its_ids_and_no_other_hash_is(tmp_path: Path,
                                                              count: int) -> None:
    rng = random.Random(count)
    pool = sorted(edges(count) | {rng.getrandbits(64) for _ in range(count)})
    keys = rng.sample(pool, min(count, len(pool)))
    keys += keys[: len(keys) // 3]  # some keys twice, in another category
    ids = [rng.randrange(1, 4) for _ in keys]
    packed = Packed()
    expected: dict[int, set[int]] = {}
    for key, cid in zip(keys, ids, strict=True):
        packed.add(key, cid)
        expected.setdefault(key, set()).add(cid)
    sorted_keys, slots, combos = compile_packed(packed)
    path = tmp_path / "edges.img"
    path.write_bytes(b"".join(encode_image(
        b"k", sorted_keys.tobytes(), bucket_index(sorted_keys).tobytes(), slots.tobytes(),
        slots.itemsize, {"combos": combos})))
    image = open_image(path)
    try:
        assert len(image) == len(expected)
        probes = pool + [rng.getrandbits(64) for _ in range(200)]
        assert image.find(probes) == [tuple(sorted(expected.get(p, ()))) for p in probes]
    finally:
        image.close()
