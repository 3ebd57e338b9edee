"""WHATWG MIME sniffing of bodies without a usable Content-Type."""

from __future__ import annotations

import pytest

from icapfilter.content.sniff import RESOURCE_HEADER, needs_sniffing, sniff


@pytest.mark.parametrize("body", [
    b"<!DOCTYPE html><html>", b"<!doctype HTML>", b"\n\t <html>", b"<HEAD>", b"<script src=x>",
    b"<iframe ", b"<h1>t</h1>", b"<div>", b"<font>", b"<table>", b"<a href=x>", b"<style>",
    b"<title>", b"<b>", b"<body>", b"<br>", b"<p>", b"<!-- c -->", b"  <P>text",
])
def test_html_signatures(body):
    assert sniff(body) == "text/html"


@pytest.mark.parametrize("body", [b"<html", b"<abbr>", b"<!--x", b"x <html>", b"<htmlx>"])
def test_a_tag_must_be_first_and_end_in_a_space_or_bracket(body):
    assert sniff(body) == "text/plain"


@pytest.mark.parametrize("body,mime", [
    (b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'>", "text/xml"),
    (b"%PDF-1.7\n", "application/pdf"),
    (b"%!PS-Adobe-3.0", "application/postscript"),
    (b"\xef\xbb\xbfhello", "text/plain"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    (b"GIF89a\x01\x00", "image/gif"),
    (b"\xff\xd8\xff\xe0", "image/jpeg"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"BM\x00\x00", "image/bmp"),
    (b"\x00\x00\x01\x00\x01\x00", "image/x-icon"),
    (b"ID3\x04", "audio/mpeg"),
    (b"OggS\x00\x02", "application/ogg"),
    (b"\x1a\x45\xdf\xa3\x9f", "video/webm"),
    (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp41isom", "video/mp4"),
    (b"\x1f\x8b\x08\x00", "application/x-gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"plain words, and more", "text/plain"),
    (b"", "text/plain"),
    (b"text then \x00 a NUL", "application/octet-stream"),
    (b"text \x1b[0m escape", "text/plain"),  # 0x1B is not a binary byte
])
def test_other_signatures_and_the_text_or_binary_rule(body, mime):
    assert sniff(body) == mime


def test_only_the_resource_header_is_looked_at():
    assert sniff(b"a" * RESOURCE_HEADER + b"\x00") == "text/plain"


@pytest.mark.parametrize("ct,want", [
    (None, True), ("", True), ("html", True), ("text/", True), ("unknown/unknown", True),
    ("application/unknown", True), ("*/*", True), (" */* ; q=1", True),
    ("text/html", False), ("text/plain", False), ("application/octet-stream", False),
    ("image/png", False),
])
def test_which_content_types_are_sniffed(ct, want):
    assert needs_sniffing(ct) is want
