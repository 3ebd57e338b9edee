"""SniffingScan: the first decoded bytes decide how an untyped body is scanned."""

from __future__ import annotations

import gzip

import zstandard

from icapfilter.content.sniffscan import MAX_HELD, SniffingScan


class Recorder:
    """Stands in for a BodyScan: records what it was made for and fed."""

    made: list[Recorder] = []

    def __init__(self, content_type):
        self.content_type = content_type
        self.fed = bytearray()
        self.certain = False
        Recorder.made.append(self)

    def feed(self, data):
        self.fed += data

    def provisional(self):
        return ("provisional", self.content_type)

    def finish(self):
        return ("finished", self.content_type)


def scan(encoding=None, scannable=("text/html", "text/plain")):
    Recorder.made = []
    return SniffingScan(Recorder, encoding, lambda mime: mime in scannable)


def test_holds_until_the_resource_header_then_replays_every_chunk():
    s = scan()
    body = b"<html>" + b"x" * 3000
    s.feed(body[:1000])
    assert Recorder.made == [] and not s.certain
    s.feed(body[1000:2000])
    assert s.sniffed == "text/html" and Recorder.made[0].content_type == "text/html"
    s.feed(body[2000:])
    assert bytes(Recorder.made[0].fed) == body
    assert s.finish() == ("finished", "text/html")


def test_a_short_body_is_decided_at_the_end():
    s = scan()
    s.feed(b"some words")
    assert s.finish() == ("finished", "text/plain") and Recorder.made[0].fed == b"some words"


def test_provisional_decides_on_what_was_read():
    s = scan()
    s.feed(b"<p>a start")
    assert s.provisional() == ("provisional", "text/html")


def test_xml_is_scanned_as_html():
    s = scan()
    s.feed(b"<?xml version='1.0'?>")
    s.finish()
    assert s.sniffed == "text/xml" and Recorder.made[0].content_type == "text/html"


def test_binary_ends_at_once_without_a_scan():
    s = scan()
    s.feed(b"GIF89a" + b"\x00" * 2000)
    assert s.certain and Recorder.made == []
    result = s.finish()
    assert not result.blocked and result.reason == "not scanned: no Content-Type, body is image/gif"


def test_the_decoded_bytes_are_sniffed_not_the_compressed_ones():
    for encoding, body in (("gzip", gzip.compress(b"<html>" + b"y" * 5000)),
                           ("zstd", zstandard.ZstdCompressor().compress(b"<html>" + b"y" * 5000))):
        s = scan(encoding)
        for i in range(0, len(body), 7):
            s.feed(body[i : i + 7])
        s.finish()
        assert s.sniffed == "text/html", encoding
        assert bytes(Recorder.made[0].fed) == body


def test_held_raw_bytes_are_bounded():
    # gzip whose first member decodes to nothing: decide before holding more
    body = gzip.compress(b"") * (MAX_HELD // 20 + 10)
    s = scan("gzip")
    for i in range(0, len(body), 4096):
        s.feed(body[i : i + 4096])
        if Recorder.made:
            break
    assert Recorder.made and i < MAX_HELD


def test_an_unknown_encoding_goes_straight_to_the_scan():
    scan("compress")
    assert Recorder.made[0].content_type is None
