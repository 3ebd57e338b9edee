"""Choosing the block page's language from the browser's ``Accept-Language``.

RFC 9110 section 12.5.4: a list of language ranges with optional weights
(``fr-CH, fr;q=0.9, en;q=0.8, *;q=0.1``); ``q=0`` means "not this one".
Ranges are tried by weight, ties in the order given, each as RFC 4647
"lookup" does: ``fr-ch`` matches a ``fr-ch`` page, else the ``fr`` one.
``*`` stands for any language not named. The header comes from the client,
so its length and number of ranges are bounded and a malformed range is
skipped, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Collection

#: Only this much of the header is read: a browser sends well under 200 bytes.
MAX_HEADER = 1024
#: At most this many ranges are considered.
MAX_RANGES = 32
_RANGE = re.compile(r"\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_QVALUE = re.compile(r"(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")


def parse_accept_language(header: str | None) -> list[tuple[str, float]]:
    """The ranges of the header, lower-cased, best first (ties keep their order);
    ranges with ``q=0`` are kept (they exclude), malformed ones dropped."""
    if not header:
        return []
    ranges: list[tuple[str, float]] = []
    for item in header[:MAX_HEADER].split(",")[:MAX_RANGES]:
        name, *params = item.split(";")
        name = name.strip()
        if not _RANGE.fullmatch(name):
            continue
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                m = _QVALUE.fullmatch(value.strip())
                weight = float(m.group(1)) if m else -1.0
        if weight >= 0:
            ranges.append((name.lower(), weight))
    ranges.sort(key=lambda r: -r[1])  # stable: ties keep the header's order
    return ranges


def choose_language(header: str | None, available: Collection[str], default: str) -> str:
    """The best of ``available`` (lower-case tags) for the header, else ``default``."""
    ranges = parse_accept_language(header)
    refused = {name for name, weight in ranges if weight == 0}
    for name, weight in ranges:
        if weight == 0:
            break  # sorted: the rest are refusals
        if name == "*":
            rest = [a for a in sorted(available) if a not in refused
                    and not any(n == a or n.startswith(a + "-") for n, _ in ranges)]
            if default in rest:
                return default
            if rest:
                return rest[0]
            continue
        tag = name
        while tag:
            if tag in available and tag not in refused:
                return tag
            tag = tag.rpartition("-")[0]
    return default
