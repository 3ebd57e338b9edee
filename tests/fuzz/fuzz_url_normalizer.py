"""Fuzz the URL and list-entry normalizer.

The engine calls it on every request URL, and the loader on every list line,
so it must turn any text into a value or :class:`InvalidEntry` (InvalidUrl is
one); anything else would be a traceback per request. A URL that parses must
give candidate keys that include its own host; no host or key holds a control
character or a space (a list entry or lookup key with a newline in it would
match nothing a browser sends).

Run it longer (docs/operations.md, Fuzzing)::

    python tests/fuzz/fuzz_url_normalizer.py FINDINGS_DIR tests/fuzz/corpus/url_normalizer \
        -max_total_time=600
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from icapfilter.urls.errors import InvalidEntry
    from icapfilter.urls.hosts import canonical_host
    from icapfilter.urls.normalize import candidates, normalize_entry, parse_url

KINDS = ("auto", "domain", "url")


def _spaceless(value: str, what: str, text: str) -> None:
    if any(c <= " " or c == "\x7f" for c in value):
        raise AssertionError(f"{what} {value!r} of {text!r} holds a control or space")


def check(text: str, kind: str) -> None:
    for strict in (False, True):
        try:
            _spaceless(canonical_host(text, strict=strict)[0], "host", text)
        except InvalidEntry:
            pass
    try:
        key = normalize_entry(text, kind)  # type: ignore[arg-type]
        if key[:2] not in ("d:", "u:") or len(key) < 3:
            raise AssertionError(f"odd key {key!r} for {text!r}")
        _spaceless(key, "key", text)
    except InvalidEntry:
        pass
    try:
        parsed = parse_url(text)
        keys = candidates(text)
        if "d:" + parsed.host not in keys:
            raise AssertionError(f"{text!r}: its own host is not a candidate: {keys!r}")
    except InvalidEntry:
        pass


def test_one_input(data: bytes) -> None:
    """First byte: the list kind; the rest as the server decodes a URL (latin-1,
    every byte kept) and as the loader decodes a list line (UTF-8)."""
    if not data:
        return
    kind = KINDS[data[0] % len(KINDS)]
    check(data[1:].decode("latin-1"), kind)
    check(data[1:].decode("utf-8", "replace"), kind)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
