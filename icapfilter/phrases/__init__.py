"""Response-body phrase filter (e2guardian/DansGuardian phrase lists).

Public API:

- `load_phrase_set(banned, weighted, exception, *, list_dir=None, aliases=None)`
  and `load_phrase_dir(dir)` -> `(PhraseSet, list[LoadError])`
- `BodyScan(phrase_set, settings, *, limit, content_type, content_encoding)`,
  the scan options in one `ScanSettings` value (icapfilter.scan_settings)
- `BodyScan.feed(raw_chunk)`, `BodyScan.certain`, `BodyScan.finish()` -> `ScanResult`
- `scan_bytes(phrase_set, data, settings, ...)` -> `ScanResult` (whole body in memory)
- `is_scannable(content_type, scan_types)`
"""

from ..content.types import DEFAULT_SCAN_TYPES, is_scannable
from ..scan_settings import FILTER_MODES, WEIGHTED_MODES, ScanSettings
from .body_scan import BodyScan
from .in_memory import scan_bytes
from .model import Combination, ListKind, LoadError, Phrase, PhraseHit, ScanResult, Weight
from .phraseset import PhraseSet, build_phrase_set, load_phrase_dir, load_phrase_set

__all__ = [
    "DEFAULT_SCAN_TYPES",
    "FILTER_MODES",
    "WEIGHTED_MODES",
    "BodyScan",
    "Combination",
    "ListKind",
    "LoadError",
    "Phrase",
    "PhraseHit",
    "PhraseSet",
    "RULES_VERSION",
    "ScanResult",
    "ScanSettings",
    "Weight",
    "build_phrase_set",
    "is_scannable",
    "load_phrase_dir",
    "load_phrase_set",
    "scan_bytes",
]

#: Raised whenever the same lists and settings can give another verdict (2: the
#: e2guardian 5.3.5 byte rules), so verdicts learned under older rules are not reused.
RULES_VERSION = 2
