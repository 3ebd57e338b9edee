"""`zstd` decoding (RFC 8878) with the `zstandard` binding.

`zstandard`'s streaming object has no output limit per call: given the
whole input at once it would return everything it decodes, and a few
hundred bytes of RLE blocks decode to gigabytes. So the frames are walked
here, header by header, and the decompressor is handed at most one block at a
time: a block decodes to at most 128 KiB. Frames whose window is larger than
browsers accept (8 MiB) are not decoded at all; concatenated frames are.
"""

from __future__ import annotations

from .stage import IN_SLICE, Stage

try:
    import zstandard
except ImportError:  # pragma: no cover - a dependency; missing only in a broken install
    zstandard = None  # type: ignore[assignment]

AVAILABLE = zstandard is not None
WHY_UNAVAILABLE = "" if AVAILABLE else "the zstandard module is not installed"

#: Largest window a frame may ask for (Chrome's and RFC 8878's limit for HTTP).
MAX_WINDOW = 8 << 20
BLOCK_MAX = 128 << 10
_MAGIC = b"\x28\xb5\x2f\xfd"
_SKIPPABLE = b"\x2a\x4d\x18"  # after one byte 0x50..0x5F
_DICT_BYTES = (0, 1, 2, 4)
_FCS_BYTES = (0, 2, 4, 8)
_WHITESPACE = b"\x00\r\n\t "
#: Work charged for a frame and for a block header: empty blocks and frames
#: output nothing, yet each costs a step of the loop here.
FRAME_COST = 4096
BLOCK_COST = 256


class ZstdStage(Stage):
    name = "zstd"

    def __init__(self, notes: list[str]) -> None:
        super().__init__(notes)
        self._dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
        self._obj: zstandard.ZstdDecompressionObj | None = None
        self._state = "frame"  # frame | block | data | skip
        self._left = 0  # input bytes of the current block (or skipped frame) still to come
        self._last = False
        self._checksum = False
        self._dead = False
        self.frames = 0

    def push(self, data: bytes) -> None:
        if not self._dead:
            super().push(data)

    def pull(self) -> bytes:
        while not self._dead:
            state = self._state
            if state == "frame":
                if not self._frame():
                    return b""
            elif state == "block":
                if not self._block():
                    return b""
            else:
                data = self._take(min(self._left, IN_SLICE))
                if not data:
                    return self._starved()
                self._left -= len(data)
                if state == "skip":
                    if not self._left:
                        self._state = "frame"
                    continue
                if not self._left:
                    self._state = "frame" if self._last else "block"
                assert self._obj is not None  # set by the frame header
                try:
                    out: bytes = self._obj.decompress(data)
                except zstandard.ZstdError as exc:
                    self._corrupt(str(exc))
                    return b""
                if out:
                    return out
        return b""

    def _frame(self) -> bool:
        """Starts the next frame; False when input is lacking or the stream is over."""
        head = self._peek(18)  # the longest frame header
        if len(head) < 4:
            if self.ended:
                if self.frames == 0 and head:
                    self._corrupt("not a zstd stream")
                elif head.strip(_WHITESPACE):
                    self._garbage()
                self._dead = True
            return False
        if head[:4] == _MAGIC:
            return self._frame_header(head)
        if 0x50 <= head[0] <= 0x5F and head[1:4] == _SKIPPABLE:
            if len(head) < 8:
                return self._starved_header()
            if not self.charge(FRAME_COST):
                self._dead = True
                return False
            self._take(8)
            self._left = int.from_bytes(head[4:8], "little")
            self._state = "skip"
            return True
        if self.frames == 0:
            self._corrupt("not a zstd stream")
        else:
            if self._take(4096).strip(_WHITESPACE):
                self._garbage()
            self._dead = True
        return False

    def _frame_header(self, head: bytes) -> bool:
        if len(head) < 5:
            return self._starved_header()
        fhd = head[4]
        single = bool(fhd & 0x20)
        dict_bytes = _DICT_BYTES[fhd & 3]
        fcs_bytes = _FCS_BYTES[fhd >> 6] or (1 if single else 0)
        size = 5 + (0 if single else 1) + dict_bytes + fcs_bytes
        if len(head) < size:
            return self._starved_header()
        if not self.charge(FRAME_COST):
            self._dead = True
            return False
        pos = 5
        if single:
            window = 0
        else:
            descriptor = head[5]
            base = 1 << (10 + (descriptor >> 3))
            window = base + (base >> 3) * (descriptor & 7)
            pos = 6
        dict_id = int.from_bytes(head[pos : pos + dict_bytes], "little")
        pos += dict_bytes
        content_size = int.from_bytes(head[pos : pos + fcs_bytes], "little")
        if fcs_bytes == 2:
            content_size += 256
        if single:
            window = content_size
        if dict_id:
            self._corrupt(f"frame needs dictionary {dict_id}, which the filter cannot have")
            return False
        if window > MAX_WINDOW:
            self._corrupt(f"frame window of {window} bytes, over the {MAX_WINDOW} browsers accept")
            return False
        self._obj = self._dctx.decompressobj()
        try:
            self._obj.decompress(self._take(size))
        except zstandard.ZstdError as exc:
            self._corrupt(str(exc))
            return False
        self._checksum = bool(fhd & 0x04)
        self._state = "block"
        self.frames += 1
        return True

    def _block(self) -> bool:
        head = self._peek(3)
        if len(head) < 3:
            self._starved()
            return False
        if not self.charge(BLOCK_COST):
            self._dead = True
            return False
        value = int.from_bytes(head, "little")
        kind, size = (value >> 1) & 3, value >> 3
        if kind == 3 or size > BLOCK_MAX:
            self._corrupt("invalid block header")
            return False
        self._last = bool(value & 1)
        self._left = 3 + (1 if kind == 1 else size) + (4 if self._last and self._checksum else 0)
        self._state = "data"
        return True

    def _starved_header(self) -> bool:
        self._starved()
        return False

    def _starved(self) -> bytes:
        if self.ended:
            self.notes.append("zstd: body ended before the compressed stream did")
            self._dead = True
        return b""

    def _corrupt(self, why: str) -> None:
        self.notes.append(f"zstd: corrupt data ({why}); scanned what decoded")
        self._dead = True

    def _garbage(self) -> None:
        self.notes.append("zstd: trailing garbage after the compressed stream ignored")
