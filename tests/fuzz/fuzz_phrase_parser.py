"""Fuzz the phrase list parser (DansGuardian / e2guardian phrase lists).

Phrase lists are edited by hand and shipped in many charsets: a bad line must
become a warning or an error in ``parser.errors``, never an exception. Both the
entry parser and the file parser (on a temp file whose name picks a charset
hint) are driven; includes outside the temp folder are skipped so the fuzzer
never reads files of this machine.

Run it longer (docs/operations.md, Fuzzing)::

    python tests/fuzz/fuzz_phrase_parser.py FINDINGS_DIR tests/fuzz/corpus/phrase_parser \
        -max_total_time=600
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from icapfilter.phrases.parser import ListParser, parse_entry

NAMES = ("weightedphraselist", "weighted_russian", "weighted_japanese", "weighted_chinese",
         "bannedphraselist", "weighted_greek")
# an include may only name a file of the temp folder (no '/', '..', '~' or __LISTDIR__)
_OUTSIDE = re.compile(rb"(?i)\.include<[^>\n]*(/|\.\.|~|__listdir__|\\)")
_FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-phrases-"))


def test_one_input(data: bytes) -> None:
    if not data:
        return
    for line in data[1:].split(b"\n"):
        line = line.strip(b" \t\r\n")
        if line.startswith(b"<"):
            parsed = parse_entry(line)
            if not all(parsed.parts) or any(len(p) > 127 for p in parsed.parts):
                raise AssertionError(f"{line!r}: an empty or overlong part {parsed.parts!r}")
    if _OUTSIDE.search(data):
        return
    path = _FOLDER / NAMES[data[0] % len(NAMES)]
    path.write_bytes(data[1:])
    parser = ListParser(list_dir=_FOLDER)
    parser.parse(path)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
