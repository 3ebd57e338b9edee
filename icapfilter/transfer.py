"""The Transfer-* lists the ICAP service advertises in OPTIONS (RFC 3507 4.10.2).

They tell Squid which URLs, by extension, to send to RESPMOD with a preview
(``preview``), never (``ignore``) or whole (``complete``). The server
advertises them; the policy needs ``ignore`` too (a page never sent to
RESPMOD is never learned), so both read them from here rather than one
from the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ServerConfig
from .icap.service import ProtocolSettings

# The defaults live with the protocol settings (the lowest layer); see there
# why Transfer-Ignore is empty.
_DEFAULTS = ProtocolSettings()
TRANSFER_PREVIEW = _DEFAULTS.transfer_preview
TRANSFER_IGNORE = _DEFAULTS.transfer_ignore
TRANSFER_COMPLETE = _DEFAULTS.transfer_complete


@dataclass(frozen=True, slots=True)
class TransferLists:
    preview: str = TRANSFER_PREVIEW
    ignore: str = TRANSFER_IGNORE
    complete: str = TRANSFER_COMPLETE

    @classmethod
    def from_config(cls, server: ServerConfig) -> TransferLists:
        complete = TRANSFER_COMPLETE if server.transfer_complete is None \
            else server.transfer_complete
        return cls(ignore=server.transfer_ignore, complete=complete)

    def ignored_extensions(self) -> frozenset[str]:
        """The lower-case extensions of Transfer-Ignore (``*`` is not one)."""
        return frozenset(e.strip().lower() for e in self.ignore.split(",")
                         if e.strip() not in ("", "*"))
