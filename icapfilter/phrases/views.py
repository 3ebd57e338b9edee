"""The texts a body is scanned as: e2guardian's byte passes and default mode's
decoded views.

A view turns body bytes into the bytes the automaton scans and keeps the
match counts (by automaton key). e2guardian's passes (`bytemap`) need no
charset. Default mode adds, after them, the same passes over the page with
character references decoded and, on UTF-8 pages, with real Unicode case
folding: only there may the two modes differ.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections import Counter
from collections.abc import Iterable
from html import unescape

from ..content.entities import References, split_reference_tail
from .bytemap import RAW_ONLY_TABLE, RAW_PASS_TABLE, HoldLast, SpaceFolder
from .matcher import Matcher, MatchStream

_ROUNDTRIP = "icapfilter-roundtrip"


def _roundtrip_errors(exc: UnicodeError) -> tuple[bytes, int]:
    """Encode side of `surrogateescape`, plus numeric references for the rest.

    A body byte the page's codec could not decode comes back as that byte; a
    decoded reference the codec cannot encode goes back to `&#N;`, which the
    byte mapping turns into spaces and digits just as e2guardian sees it.
    """
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = bytearray()
    for ch in exc.object[exc.start : exc.end]:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(o - 0xDC00)
        else:
            out += f"&#{o};".encode("ascii")
    return bytes(out), exc.end


codecs.register_error(_ROUNDTRIP, _roundtrip_errors)

_LOWERED_ESCAPE = "icapfilter-lowered-escape"


def _lowered_escape(exc: UnicodeError) -> tuple[str, int]:
    """`surrogateescape` that lowercases 0xC0-0xDD as e2guardian does.

    A byte that is not UTF-8 (an undeclared windows-1251 page) is then seen
    in the decoded view exactly as in e2guardian's.
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(0xDC00 + (b + 32 if 0xC0 <= b <= 0xDD else b)) for b in bad), exc.end


codecs.register_error(_LOWERED_ESCAPE, _lowered_escape)


@functools.cache
def extra_table(raw_only: bool, utf8: bool) -> bytes:
    base = RAW_ONLY_TABLE if raw_only else RAW_PASS_TABLE
    if not utf8:
        return base
    return bytes(base[c] if c < 0x80 else c for c in range(256))


class _Nbsp(References):
    """`&nbsp;` and its numeric forms read as a space: what the author meant."""

    def __missing__(self, ref: str) -> str:
        value = References.__missing__(self, ref)
        if "\xa0" in value:
            value = self[ref] = value.replace("\xa0", " ")
        return value


#: Shared by every page: resolving a reference is a pure function, and
#: html.unescape costs a Python call the first time a reference is seen. The
#: dict is bounded (References clears it when full); threads may race only to
#: resolve the same reference twice.
_PAGE_REFERENCES = _Nbsp()
_BYTE_VALUES: dict[str, dict[bytes, bytes]] = {}


class View:
    """One scanned text and its counts by automaton key."""

    __slots__ = ("name", "counts", "stream", "table", "folder", "hold", "extra", "utf8",
                 "in_sync")

    def __init__(
        self,
        name: str,
        matcher: Matcher | None,
        table: bytes,
        *,
        smart: bool,
        extra: bool = False,
        utf8: bool = False,
        at_start: bool = True,
    ) -> None:
        self.name = name
        self.counts: Counter[int] = Counter()
        self.stream: MatchStream | None = matcher.stream() if matcher is not None else None
        self.table = table
        self.extra = extra  # default mode's decoded view, scored after e2guardian's
        self.utf8 = utf8  # counts go through PhraseSet.folded_map
        self.in_sync = extra  # reads exactly as its e2guardian twin so far
        self.folder: SpaceFolder | None = None
        self.hold: HoldLast | None = None
        if smart:
            self.folder = SpaceFolder()
            self.hold = HoldLast()
            if at_start:  # else it starts mid-page, after a byte that was not a space
                self.hold.feed(self.folder.start())

    def scan_mapped(self, mapped: bytes) -> Iterable[int]:
        """Feed bytes already mapped; returns the keys matched in them."""
        if self.folder is not None:
            assert self.hold is not None
            mapped = self.hold.feed(self.folder.feed(mapped))
        if not mapped or self.stream is None:
            return ()
        found = self.stream.feed(mapped)
        if not isinstance(found, list):
            found = list(found)
        self.counts.update(found)
        return found

    def feed(self, data: bytes) -> Iterable[int]:
        return self.scan_mapped(data.translate(self.table))

    def same_state_as(self, other: View) -> bool:
        if self.stream is None or other.stream is None:
            return True
        if self.stream.tail != other.stream.tail:
            return False
        if self.folder is None:
            return True
        assert other.folder is not None and self.hold is not None and other.hold is not None
        return (
            self.folder.last_space == other.folder.last_space
            and self.hold.held == other.hold.held
        )

    def take_state_of(self, other: View, found: Iterable[int]) -> None:
        """Advance as `other` just did over the same text, without scanning it."""
        self.counts.update(found)
        if self.stream is not None:
            assert other.stream is not None
            self.stream._tail = other.stream.tail  # type: ignore[attr-defined]
        if self.folder is not None:
            assert other.folder is not None and self.hold is not None and other.hold is not None
            self.folder.last_space = other.folder.last_space
            self.hold._held = other.hold.held


class Decoded:
    """Default mode's text transform for UTF-8 pages: references, case folding.

    Bytes that are not UTF-8 (an undeclared windows-1251 page) come back as
    they are, lowercased in 0xC0-0xDD as e2guardian does.
    """

    __slots__ = ("_decoder", "_carry")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors=_LOWERED_ESCAPE)
        self._carry = ""

    @property
    def idle(self) -> bool:
        return not self._carry and not self._decoder.getstate()[0]

    def whole(self, data: bytes) -> bytes:
        """`feed` of a complete piece on its own: no state read or kept."""
        return self._transform(data.decode("utf-8", _LOWERED_ESCAPE))

    def _transform(self, text: str) -> bytes:
        if "&" in text:
            text = _PAGE_REFERENCES.unescape(text)
        if not text.isascii():
            text = text.casefold()
        return text.encode("utf-8", _ROUNDTRIP)

    def feed(self, data: bytes, final: bool = False) -> bytes:
        text = self._decoder.decode(data, final)
        if self._carry:
            text = self._carry + text
            self._carry = ""
        if not final and "&" in text:
            cut = split_reference_tail(text)
            text, self._carry = text[:cut], text[cut:]
        return self._transform(text)


# html.unescape's references, restricted to ASCII names (all of HTML's are)
_BYTE_REF = re.compile(rb"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[0-9A-Za-z]{1,32};?)")
_BYTE_REF_TAIL = re.compile(rb"&(?:#[0-9]*|#[xX][0-9a-fA-F]*|[0-9A-Za-z]{0,32})\Z")


class ByteReferences:
    """Default mode's transform for other charsets: references resolved in place.

    The page stays in its own bytes (a windows-1251 page keeps matching the
    windows-1251 lists byte for byte); each reference becomes its character
    in the page's charset, or `&#N;` when the charset has no such character.
    """

    __slots__ = ("_codec", "_carry", "_cache")

    def __init__(self, codec: str) -> None:
        self._codec = codec
        self._carry = b""
        cache = _BYTE_VALUES.get(codec)
        if cache is None:
            if len(_BYTE_VALUES) >= 64:
                _BYTE_VALUES.clear()
            cache = _BYTE_VALUES[codec] = {}
        self._cache = cache

    @property
    def idle(self) -> bool:
        return not self._carry

    def _value(self, ref: bytes) -> bytes:
        value = self._cache.get(ref)
        if value is None:
            if len(self._cache) >= 4096:
                self._cache.clear()
            text = unescape("&" + ref.decode("ascii")).replace("\xa0", " ")
            value = self._cache[ref] = text.encode(self._codec, _ROUNDTRIP)
        return value

    def whole(self, data: bytes) -> bytes:
        """`feed` of a complete piece on its own: no state read or kept."""
        if b"&" not in data:
            return data
        parts = _BYTE_REF.split(data)
        parts[1::2] = map(self._value, parts[1::2])
        return b"".join(parts)

    def feed(self, data: bytes, final: bool = False) -> bytes:
        if self._carry:
            data = self._carry + data
            self._carry = b""
        if b"&" not in data:
            return data
        if not final:
            m = _BYTE_REF_TAIL.search(data, max(0, len(data) - 40))
            if m is not None:
                data, self._carry = data[: m.start()], data[m.start() :]
        return self.whole(data)


def needs_decoding(data: bytes, utf8: bool) -> bool:
    """Whether the decoded view of `data` can differ from its bytes."""
    return b"&" in data or (utf8 and not data.isascii())


