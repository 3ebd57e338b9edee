"""The compiled list image: one generation of hashed entries in one file.

The in-process store used to be a dict of 64-bit hashes in every worker
(about 237 MB for 1.8 M entries, copied on write after the fork). The image
holds the same hashes as a sorted array in a file that every worker and
``squid-helper`` maps read-only, so its pages are in memory once whatever the
number of processes, and a second start has nothing to build.

Layout (arrays in the machine's byte order, each 8-byte aligned)::

    header   64 bytes: magic, format version, byte order, entry count,
             meta length, bucket bits, id width, content key, checksum
    meta     JSON: generation info, load report, the id sets ("combos")
    index    (2**bucket_bits + 1) x uint32: first entry of each bucket of
             the keys' top bits, so a lookup bisects a handful of keys
    keys     count x uint64, sorted: the full xxh3 key hashes (the same 64
             bits the dict held, so the same collision guarantee)
    ids      count x uint8/16/32: index into the combos, the category-id
             tuple of each key (host marks included as id 0)

The checksum (xxh3-64 of everything after the header) is checked when the
file is mapped: a damaged or truncated image is an :class:`ImageError`,
never a wrong verdict.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import sys
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import xxhash

MAGIC = b"ICFLIMG\n"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sIIQQII16sQ")
HEADER_SIZE = _HEADER.size  # 64
_ORDER = {"little": 0, "big": 1}[sys.byteorder]
_WIDTH_CODE: dict[int, Literal["B", "H", "I"]] = {1: "B", 2: "H", 4: "I"}


class ImageError(Exception):
    """A list image that cannot be used as it is (the message says why); rebuild it."""


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def bucket_bits_for(count: int) -> int:
    """About two to four keys per bucket: the index costs a few bits per key."""
    return min(24, max(0, count.bit_length() - 2))


def id_width_for(combos: int) -> int:
    return 1 if combos <= 0x100 else 2 if combos <= 0x10000 else 4


@dataclass(frozen=True, slots=True)
class Layout:
    count: int
    meta_len: int
    bucket_bits: int
    id_width: int

    @property
    def index_offset(self) -> int:
        return HEADER_SIZE + _pad8(self.meta_len)

    @property
    def keys_offset(self) -> int:
        return self.index_offset + _pad8(((1 << self.bucket_bits) + 1) * 4)

    @property
    def ids_offset(self) -> int:
        return self.keys_offset + self.count * 8

    @property
    def size(self) -> int:
        return self.ids_offset + self.count * self.id_width


def encode_image(content_key: bytes, keys: bytes, index: bytes, ids: bytes, id_width: int,
                 meta: dict[str, Any]) -> list[bytes]:
    """The image's bytes, in parts (to write without joining 20 MB).

    ``keys`` are the sorted uint64 hashes, ``index`` the bucket offsets,
    ``ids`` the combo index of each key; all in native byte order.
    """
    count = len(keys) // 8
    meta_bytes = json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()
    bits = bucket_bits_for(count)
    layout = Layout(count, len(meta_bytes), bits, id_width)
    if len(index) != ((1 << bits) + 1) * 4 or len(ids) != count * id_width:
        raise ValueError("index or ids do not match the keys")
    body = [
        meta_bytes, bytes(_pad8(len(meta_bytes)) - len(meta_bytes)),
        index, bytes(layout.keys_offset - layout.index_offset - len(index)),
        keys, ids,
    ]
    digest = xxhash.xxh3_64()
    for part in body:
        digest.update(part)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, _ORDER, count, len(meta_bytes), bits,
                          id_width, content_key.ljust(16, b"\0")[:16], digest.intdigest())
    return [header, *body]


class ListImage:
    """A mapped image: lookups read the shared pages, no per-entry Python object."""

    def __init__(self, path: Path, mapped: mmap.mmap, layout: Layout, content_key: bytes,
                 meta: dict[str, Any]) -> None:
        self.path = path
        self.layout = layout
        self.content_key = content_key
        self.meta = meta
        self._map = mapped
        view = memoryview(mapped)
        self._index = view[layout.index_offset:layout.keys_offset].cast("I")
        self._keys = view[layout.keys_offset:layout.ids_offset].cast("Q")
        self._ids = view[layout.ids_offset:layout.size].cast(_WIDTH_CODE[layout.id_width])
        self._shift = 64 - layout.bucket_bits
        self.combos: tuple[tuple[int, ...], ...] = tuple(tuple(c) for c in meta["combos"])
        self.count = layout.count

    def __len__(self) -> int:
        return self.count

    def find(self, hashes: Sequence[int]) -> list[tuple[int, ...]]:
        """The id tuple of each hash, ``()`` when it is not listed."""
        keys, index, ids, combos, shift = (self._keys, self._index, self._ids, self.combos,
                                           self._shift)
        found: list[tuple[int, ...]] = []
        for h in hashes:
            bucket = h >> shift
            hi = index[bucket + 1]
            i = bisect_left(keys, h, index[bucket], hi)
            found.append(combos[ids[i]] if i < hi and keys[i] == h else ())
        return found

    def close(self) -> None:
        """Unmap now (tests); otherwise the map goes when the last reference does."""
        for view in (self._index, self._keys, self._ids):
            view.release()
        self._map.close()


def read_header(data: bytes) -> tuple[Layout, bytes, int]:
    """Layout, content key and checksum from the first bytes; ImageError if not an image."""
    if len(data) < HEADER_SIZE:
        raise ImageError(f"truncated: {len(data)} bytes, shorter than the header")
    magic, version, order, count, meta_len, bits, width, key, checksum = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ImageError("not a list image (bad magic)")
    if version != FORMAT_VERSION:
        raise ImageError(f"format version {version}; this icapfilter reads {FORMAT_VERSION}")
    if order != _ORDER:
        raise ImageError("made on a machine of the other byte order")
    if width not in _WIDTH_CODE or bits > 32:
        raise ImageError(f"bad header (id width {width}, bucket bits {bits})")
    return Layout(count, meta_len, bits, width), key, checksum


def content_key_of(path: Path) -> bytes | None:
    """The content key in an image's header, or None when it is no usable image header."""
    try:
        with open(path, "rb") as handle:
            return read_header(handle.read(HEADER_SIZE))[1]
    except (OSError, ImageError):
        return None


def open_image(path: Path) -> ListImage:
    """Map ``path`` read-only and check it whole; raises ImageError or OSError."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        layout, key, checksum = read_header(os.pread(fd, HEADER_SIZE, 0))
        if size != layout.size:
            what = "truncated" if size < layout.size else "has trailing bytes"
            raise ImageError(f"{what}: {size} bytes, the header says {layout.size}")
        mapped = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    try:
        with memoryview(mapped) as whole:
            intact = xxhash.xxh3_64_intdigest(whole[HEADER_SIZE:]) == checksum
        if not intact:
            raise ImageError("checksum mismatch: the file is damaged")
        # The check read every page into this process's page tables. Let them
        # go: lookups fault in the pages they need from the page cache, and a
        # process that never looks up (the supervisor) holds none of them.
        if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            mapped.madvise(mmap.MADV_DONTNEED)
        meta_end = HEADER_SIZE + layout.meta_len
        meta = json.loads(bytes(mapped[HEADER_SIZE:meta_end]))
        if not isinstance(meta, dict) or not isinstance(meta.get("combos"), list):
            raise ImageError("meta data without id sets")
        image = ListImage(Path(path), mapped, layout, key, meta)
    except ImageError:
        mapped.close()
        raise
    except (ValueError, TypeError, KeyError) as exc:
        mapped.close()
        raise ImageError(f"unreadable meta data: {exc}") from None
    return image
