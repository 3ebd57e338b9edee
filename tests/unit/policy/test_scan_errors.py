"""Responses the scanner cannot read fail closed; untyped bodies are sniffed."""

from __future__ import annotations

import gzip

import pytest
import zstandard

from icapfilter.config import GroupConfig
from icapfilter.content.decoding import MAX_ENCODINGS
from icapfilter.icap.messages import Headers
from icapfilter.phrases import load_phrase_set
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.policy.filter_policy import FilterPolicy
from icapfilter.policy.groups import GroupMap
from icapfilter.policy.scanning import PhraseScan
from icapfilter.verdict import Verdict
from tests.policyfixtures import make_policy

PAGE = b"<html><body><p>a page about forbidden words</p></body></html>"
CLEAN = b"<html><body><p>a page about nothing</p></body></html>"


@pytest.fixture
def policy(tmp_path) -> FilterPolicy:
    banned = tmp_path / "banned"
    banned.write_text("<forbidden words>\n")
    phrases, _ = load_phrase_set([banned])
    return make_policy(phrases=phrases)


def respond(policy: FilterPolicy, body: bytes, *headers: tuple[str, str],
            chunk: int = 4096) -> Verdict:
    request = RequestInfo(Client("192.0.2.1", None), "GET", "http://site.test/", Headers())
    decision = policy.begin_response(request, ResponseInfo(200, Headers.of(headers)))
    if isinstance(decision, Verdict):
        return decision
    for i in range(0, len(body), chunk):
        if decision.certain:
            break
        decision.feed(body[i : i + chunk])
    return decision.finish()


def test_a_chain_longer_than_the_cap_is_blocked_at_the_heads(policy):
    # It used to end in a RecursionError that the scan swallowed: allowed as clean.
    encoding = ", ".join(["gzip"] * 1000)
    request = RequestInfo(Client("192.0.2.1", None), "GET", "http://site.test/", Headers())
    verdict = policy.begin_response(request, ResponseInfo(200, Headers.of([
        ("Content-Type", "text/html"), ("Content-Encoding", encoding)])))
    assert isinstance(verdict, Verdict) and verdict.blocked
    assert verdict.category == "scan-error"
    assert verdict.reason.startswith("scan error: 1000 stacked")


def test_a_chain_at_the_cap_is_scanned(policy):
    body = PAGE
    for _ in range(MAX_ENCODINGS):
        body = gzip.compress(body)
    verdict = respond(policy, body, ("Content-Type", "text/html"),
                      ("Content-Encoding", ", ".join(["gzip"] * MAX_ENCODINGS)))
    assert verdict.blocked and verdict.category != "scan-error"


class Exploding:
    """A BodyScan whose pipeline fails, as a bug or a hostile body could make it."""

    certain = False
    error = None

    def __init__(self, where: str) -> None:
        self.where = where

    def feed(self, data: bytes) -> None:
        if self.where == "feed":
            raise RecursionError("maximum recursion depth exceeded")

    def provisional(self):
        raise AssertionError("unused")

    def finish(self):
        if self.where == "finish":
            raise MemoryError()
        raise AssertionError("a failed scan must not be scored")


@pytest.mark.parametrize("where", ["feed", "finish"])
def test_an_exception_in_a_scan_blocks_and_is_not_learned(where):
    learned = []
    group = GroupMap([GroupConfig(name="default")]).default
    scan = PhraseScan(Exploding(where), group, learned.append)
    scan.feed(b"<p>body</p>")
    assert scan.certain is (where == "feed")
    verdict = scan.finish()
    assert verdict.blocked and verdict.category == "scan-error"
    assert verdict.reason.startswith("scan error: ") and learned == []


def test_a_body_scan_that_stopped_on_an_error_blocks(policy, monkeypatch):
    # BodyScan catches it (a body must never crash the server) and sets .error
    from icapfilter.content.decoding import ContentDecoder

    def broken(self, data):
        raise RecursionError("deep markup")

    monkeypatch.setattr(ContentDecoder, "feed", broken)
    verdict = respond(policy, CLEAN, ("Content-Type", "text/html"))
    assert verdict.blocked and "RecursionError" in verdict.reason


def test_zstd_pages_are_scanned(policy):
    body = zstandard.ZstdCompressor().compress(PAGE)
    verdict = respond(policy, body, ("Content-Type", "text/html"), ("Content-Encoding", "zstd"))
    assert verdict.blocked and verdict.category == "phrases"


@pytest.mark.parametrize("headers", [(), (("Content-Type", ""),), (("Content-Type", "html"),),
                                     (("Content-Type", "unknown/unknown"),)])
def test_an_html_body_without_a_usable_content_type_is_scanned(policy, headers):
    verdict = respond(policy, b"\n  " + PAGE, *headers)
    assert verdict.blocked and verdict.category == "phrases"
    assert not respond(policy, CLEAN, *headers).blocked


def test_an_untyped_gzip_body_is_sniffed_after_decoding(policy):
    verdict = respond(policy, gzip.compress(PAGE * 100), ("Content-Encoding", "gzip"), chunk=100)
    assert verdict.blocked


def test_an_untyped_text_body_is_scanned_as_text(policy):
    verdict = respond(policy, b"plain words: forbidden words", chunk=5)
    assert verdict.blocked


def test_an_untyped_image_is_not_scanned(policy):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"forbidden words" * 200
    verdict = respond(policy, png)
    assert not verdict.blocked and "image/png" in verdict.reason


def test_an_untyped_binary_body_is_not_scanned(policy):
    verdict = respond(policy, b"\x00\x01\x02forbidden words" * 10)
    assert not verdict.blocked and "application/octet-stream" in verdict.reason


def test_a_typed_image_is_still_decided_from_the_heads(policy):
    request = RequestInfo(Client("192.0.2.1", None), "GET", "http://site.test/a.png", Headers())
    decision = policy.begin_response(request, ResponseInfo(200, Headers.of([
        ("Content-Type", "image/png")])))
    assert isinstance(decision, Verdict) and not decision.blocked


def test_an_octet_stream_is_not_sniffed(policy):
    # browsers download it rather than render it
    verdict = respond(policy, PAGE, ("Content-Type", "application/octet-stream"))
    assert not verdict.blocked and verdict.reason == "content type not scanned"
