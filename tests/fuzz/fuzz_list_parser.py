"""Fuzz the URL list file parser (Shallalist/UT1, squidGuard, e2guardian lines).

Lists come from third parties and are loaded whole: one odd line must become a
reported problem, never an exception that fails the load. Each input is parsed
twice: as a member of an archive (no include folder: ``.Include<...>`` is
reported) and as a file of a temp folder whose includes are followed; inputs
including anything outside that folder are skipped, so the fuzzer never reads
files of this machine.

Run it longer (docs/operations.md, Fuzzing)::

    python tests/fuzz/fuzz_list_parser.py FINDINGS_DIR tests/fuzz/corpus/list_parser \
        -max_total_time=600
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from icapfilter.urls.listfiles import _Context, parse_lines
    from icapfilter.urls.report import LoadReport

KINDS = ("auto", "domain", "url")
# an include may only name a file of the temp folder: no "/", "\\", ".." or "~"
_OUTSIDE = re.compile(rb"(?i)\.include<[^>\n]*([/~\\]|\.\.)")
_FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-urllists-"))
_FILE = _FOLDER / "domains"


def parse(data: bytes, ctx: _Context) -> None:
    for entry in parse_lines(data, ctx, LoadReport()):
        if entry.key[:2] not in ("d:", "u:") or not entry.category:
            raise AssertionError(f"odd entry {entry!r}")


def test_one_input(data: bytes) -> None:
    """First byte: the file kind and (high bit) exception list; the rest: the file."""
    if not data:
        return
    kind = KINDS[data[0] % len(KINDS)]
    exception = bool(data[0] & 0x80)
    body = data[1:]
    parse(body, _Context("archive!fuzz", kind, exception, "fuzzed", None))  # type: ignore[arg-type]
    if _OUTSIDE.search(body):
        return
    _FILE.write_bytes(body)
    parse(body, _Context(str(_FILE), kind, exception, "fuzzed",  # type: ignore[arg-type]
                         _FOLDER, (str(_FILE.resolve()),)))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
