"""Fuzz the file-name readers and the SafeSearch rewrite.

Both read hostile text on every request: a Content-Disposition or URL path
must give normalized names and never raise; a search request rewritten and
rendered must still be one request line that parses back, with exactly one
``safe=active`` in its query and nothing else of it changed.

Run it longer (docs/operations.md, Fuzzing)::

    python tests/fuzz/fuzz_filetypes_safesearch.py FINDINGS_DIR \
        tests/fuzz/corpus/filetypes_safesearch -max_total_time=600
"""

from __future__ import annotations

import sys
from urllib.parse import unquote_plus

import atheris

with atheris.instrument_imports():
    from icapfilter.icap.errors import IcapProtocolError
    from icapfilter.icap.messages import Headers
    from icapfilter.icap.parse import parse_http_request_head
    from icapfilter.icap.render import rewrite_http_head
    from icapfilter.policy.filenames import disposition_names, normalize, url_file_names
    from icapfilter.policy.hook import Client, RequestInfo
    from icapfilter.policy.safesearch import rewrite, split_url


def check_names(names: set[str]) -> None:
    for name in names:
        if not name or name != normalize(name):
            raise AssertionError(f"name {name!r} is not normalized")


def check_search(target: str) -> None:
    raw = f"GET {target} HTTP/1.1\r\nHost: www.google.com\r\n\r\n".encode("latin-1")
    try:
        head = parse_http_request_head(raw)
    except IcapProtocolError:
        return
    needed = rewrite(RequestInfo(Client(), "GET", head.url, Headers()))
    if needed is None or needed.query is None:
        return
    out = parse_http_request_head(rewrite_http_head(raw, query=needed.query))
    new_query = out.target.split("#", 1)[0].partition("?")[2]
    names = [unquote_plus(p.partition("=")[0], errors="replace").strip().lower()
             for p in new_query.split("&") if p]
    if names.count("safe") != 1 or "safe=active" not in new_query.split("&"):
        raise AssertionError(f"{target!r} -> {out.target!r}")
    if out.target.partition("?")[0] != head.target.partition("?")[0].split("#", 1)[0]:
        raise AssertionError(f"{target!r}: the path changed: {out.target!r}")


def test_one_input(data: bytes) -> None:
    """First byte: what the rest is (a Content-Disposition value, a URL path,
    a search request target), decoded as the server decodes headers (latin-1)."""
    if not data:
        return
    text = data[1:].decode("latin-1")
    kind = data[0] % 3
    if kind == 0:
        check_names(disposition_names(text))
    elif kind == 1:
        check_names(url_file_names("http://dl.test/" + text))
    else:
        split_url("http://" + text)  # any authority: a host, or None, never an exception
        check_search(text if text.startswith("/") else "/" + text)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
