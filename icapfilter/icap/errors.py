"""Protocol errors that carry the ICAP status to answer with.

Like h11's ``error_status_hint``: whoever detects bad input knows best which
status fits, and the server boundary only has to render it.
"""

from __future__ import annotations


class IcapProtocolError(Exception):
    """The peer sent something we cannot accept; answer ``status`` and close."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class IncompleteMessage(IcapProtocolError):
    """The connection ended or timed out in the middle of a message."""

    def __init__(self, message: str = "truncated message", status: int = 400) -> None:
        super().__init__(message, status)
