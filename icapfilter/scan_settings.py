"""The phrase scan's options, as one frozen value.

The configuration builds it once (``PhrasesConfig.scan_settings()``), and the
server's policy, ``icapfilter scan`` and the phrase engine all take it as it
is, so a default or an option cannot differ between them. What varies per
group (the naughtiness limit) or per response (its types and encoding) is
passed beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .content.types import DEFAULT_SCAN_TYPES, is_scannable

WEIGHTED_MODES = ("singular", "normal")
#: e2guardian's phrasefiltermode 1, 0 and 2.
FILTER_MODES = ("smart", "raw", "both")
#: A group's naughtiness limit unless configured (e2guardian's default).
DEFAULT_LIMIT = 50
_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ScanSettings:
    weighted_mode: str = "singular"
    filter_mode: str = "both"
    # e2guardian 5.3.5's verdicts exactly: no decoded view of character
    # references and UTF-8 case (docs/phrases.md)
    e2guardian_exact: bool = False
    # decoded body bytes scanned; past them the scan ends (truncated)
    max_scan_bytes: int = 2 * _MIB
    # bytes a Content-Encoding chain may expand to (a decoding bomb's cap)
    max_decoded_bytes: int = 8 * _MIB
    scan_types: tuple[str, ...] = DEFAULT_SCAN_TYPES

    def __post_init__(self) -> None:
        if self.weighted_mode not in WEIGHTED_MODES:
            raise ValueError(f"weighted_mode must be one of {', '.join(WEIGHTED_MODES)}; "
                             f"got {self.weighted_mode!r}")
        if self.filter_mode not in FILTER_MODES:
            raise ValueError(f"filter_mode must be one of {', '.join(FILTER_MODES)}; "
                             f"got {self.filter_mode!r}")
        if self.max_scan_bytes < 1 or self.max_decoded_bytes < 1:
            raise ValueError("max_scan_bytes and max_decoded_bytes must be >= 1")

    def scannable(self, content_type: str | None) -> bool:
        """Whether a body of this declared type is scanned at all."""
        return is_scannable(content_type, self.scan_types)


#: The settings of a configuration that sets none.
DEFAULT_SCAN = ScanSettings()
