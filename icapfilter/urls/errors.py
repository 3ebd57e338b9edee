"""Exceptions of the URL blacklist engine.

They are kept in one module so the ICAP server can translate them into its
configured behaviour without importing the store or loader machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from icapfilter.urls.report import LoadReport


class UrlListError(Exception):
    """Base class, so callers can catch everything this package raises on purpose."""


class InvalidEntry(ValueError, UrlListError):
    """A list line or URL that cannot be normalized.

    A ``ValueError`` subclass because it is bad input, not a failure of the
    engine; it is the only exception the normalizer raises.
    """


class InvalidUrl(InvalidEntry):
    """A request URL that cannot be judged (the policy decides what to do with it)."""


class StoreUnavailable(UrlListError):
    """The list store (Redis) cannot be reached; the server maps it to fail-open/closed."""


class LoadError(UrlListError):
    """A list load that did not activate; the previous generation stays active.

    ``report`` carries what was read so far, so the CLI can still show the problems.
    """

    def __init__(self, message: str, report: LoadReport | None = None) -> None:
        super().__init__(message)
        self.report = report
