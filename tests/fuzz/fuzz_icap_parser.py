"""Fuzz the sans-IO ICAP parser: head, encapsulated HTTP heads, chunked bodies.

Whatever bytes a client sends, the parser must answer with a value or an
:class:`IcapProtocolError` (which the server turns into an ICAP error status);
any other exception would cost a traceback and the connection. The chunk
decoder must also give the same result however the stream is split, since the
server feeds it whatever each ``recv`` returned.

Run it longer (docs/operations.md, Fuzzing)::

    python tests/fuzz/fuzz_icap_parser.py FINDINGS_DIR tests/fuzz/corpus/icap_parser \
        -max_total_time=600
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from icapfilter.icap.errors import IcapProtocolError
    from icapfilter.icap.parse import (
        Chunk,
        ChunkDecoder,
        Limits,
        attach_heads,
        find_head_end,
        heads_length,
        parse_icap_head,
    )

LIMITS = Limits(max_head_bytes=8192, max_header_fields=50, max_chunk_line=64)


def decode(pieces: list[bytes]) -> tuple[str, bytes, object, bytes]:
    """(outcome, body, end event, leftover) of feeding ``pieces`` in order."""
    decoder = ChunkDecoder(LIMITS)
    body = bytearray()
    end: object = None
    try:
        for piece in pieces:
            for event in decoder.feed(piece):
                if isinstance(event, Chunk):
                    body += event.data
                else:
                    end = event
    except IcapProtocolError:
        return "error", b"", None, b""
    return "ok", bytes(body), end, decoder.leftover


def check_chunks(data: bytes, split: int) -> None:
    whole = decode([data])
    halves = decode([data[:split], data[split:]])
    if whole != halves:
        raise AssertionError(f"split at {split} changes the result: {whole!r} != {halves!r}")


def check_message(data: bytes) -> None:
    end = find_head_end(data)
    if end < 0:
        end = len(data)
    try:
        request = parse_icap_head(data[:end], LIMITS)
        rest = data[end:]
        length = heads_length(request)
        if length < 0:
            raise AssertionError(f"negative heads length {length}")
        request = attach_heads(request, rest[:length], LIMITS)
        if request.has_body:
            ChunkDecoder(LIMITS).feed(rest[length:])
    except IcapProtocolError as exc:
        if not 400 <= exc.status < 600:
            raise AssertionError(f"error status {exc.status}") from exc


def test_one_input(data: bytes) -> None:
    check_message(data)
    if data:
        check_chunks(data[1:], data[0] % max(1, len(data)))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
