"""Phrase-list load problems, told once as a summary instead of line by line.

Debian's stock e2guardian lists carry the same few dozen known oddities
(entries that never match, lines e2guardian reads differently); printing all
of them on every ``config check``, ``check``, ``scan`` and start buries what
matters. Warnings become one summary line; the lines themselves go to the
``icapfilter.list_errors`` logger at debug level, which ``--show-list-errors``
(or ``[log] level = "debug"`` in the server) makes visible. Errors (a line
skipped, a file unreadable) are still logged one by one.
"""

from __future__ import annotations

import logging
import sys
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from .phrases.model import LoadError
from .phrases.phraseset import DEAD_PREFIX, load_log_lines

DETAILS = logging.getLogger("icapfilter.list_errors")


@dataclass(frozen=True)
class PhraseNotes:
    """What loading one phrase set found."""

    files: int
    dead: int  # entries that can never match (as in e2guardian)
    warnings: int  # other lines read as e2guardian reads them
    errors: int  # lines skipped or files unreadable

    def describe(self) -> str:
        parts = []
        if self.dead:
            parts.append(f"{self.dead} entries never match (as in e2guardian)")
        if self.warnings:
            parts.append(f"{self.warnings} lines read as e2guardian reads them")
        if self.errors:
            parts.append(f"{self.errors} lines skipped")
        return ", ".join(parts) or "no problems"


_NOTES: weakref.WeakKeyDictionary[object, PhraseNotes] = weakref.WeakKeyDictionary()


def notes_of(phrase_set: object) -> PhraseNotes | None:
    return _NOTES.get(phrase_set)


def report_phrase_problems(errors: Iterable[LoadError], phrase_set: object,
                           log: logging.Logger) -> PhraseNotes:
    """Log the problems of one phrase-set load: errors in full, warnings as one line."""
    errors = list(errors)
    dead = sum(1 for e in errors if e.message.startswith(DEAD_PREFIX))
    skipped = [e for e in errors if e.level == "error"]
    notes = PhraseNotes(files=len({e.path for e in errors}), dead=dead,
                        warnings=len(errors) - dead - len(skipped), errors=len(skipped))
    _NOTES[phrase_set] = notes
    for error in skipped:
        log.warning("phrase list: %s", error)
    warnings = [e for e in errors if e.level != "error"]
    for line in load_log_lines(warnings):
        DETAILS.debug("phrase list: %s", line)
    if warnings:
        files = len({e.path for e in warnings})
        hint = "" if DETAILS.isEnabledFor(logging.DEBUG) else \
            "; --show-list-errors lists them (the server: [log] level = \"debug\")"
        log.warning("phrase lists: %d known problem%s in %d file%s: %s%s",
                    len(warnings), "" if len(warnings) == 1 else "s", files,
                    "" if files == 1 else "s",
                    PhraseNotes(0, dead, notes.warnings, 0).describe(), hint)
    return notes


def show_list_errors() -> None:
    """Print every phrase-list problem on stderr (the commands' --show-list-errors)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    DETAILS.addHandler(handler)
    DETAILS.setLevel(logging.DEBUG)
    DETAILS.propagate = False
