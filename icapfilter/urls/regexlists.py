"""Regular-expression URL lists, matched by RE2 in time linear in the URL.

A backtracking engine (Python's ``re``, PCRE) can spend minutes on one URL
with a pattern such as ``(a+)+$``: a list line must never be able to hang a
worker. RE2 (Google's ``google-re2`` binding) guarantees linear time and
refuses what it cannot do that way (back-references, look-around), which
the loader reports as a bad line at ``file:line``.

Every pattern of a generation goes into one ``re2.Set``: one scan of the URL
answers for all of them, so a request costs the same with 5 or 5,000 lines.
Patterns are case-insensitive, as in squidGuard and e2guardian, and searched
anywhere in the URL (``^``/``$`` anchor at its ends).

The subject is what squidGuard 1.6 and e2guardian match against: the URL
without its scheme, lowercase, ``host/path?query``, with the path
percent-decoded and its dot segments resolved, no trailing ``/`` (e2guardian
chops it). As in e2guardian and unlike squidGuard the port is not part of it
(lists judge hosts), and the host is the one a browser connects to (IDN in
punycode, IPv4 in dotted decimal). tests/integration/urls/ compares both
engines pattern by pattern; docs/lists.md lists the differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote_to_bytes

import re2

from icapfilter.urls.errors import StoreUnavailable
from icapfilter.urls.normalize import NormalizedUrl
from icapfilter.urls.rules import Rule, Scope, covers, scope_of

#: RE2's memory budget for one set (and for checking one pattern). The DFA
#: takes up to two thirds of it, lazily; 64 MiB leaves room for thousands of
#: patterns (measured: 5,000 in one set, 0.8 us a URL once warm).
MAX_MEM = 64 << 20
#: Added after the patterns: it matches every string, so a match without it
#: is RE2's DFA out of memory (which the binding reports as "no match").
_SENTINEL = ""


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # errors are reported as file:line, not on stderr
    options.max_mem = MAX_MEM
    return options


def _message(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else exc
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


def pattern_error(text: str) -> str | None:
    """Why RE2 refuses ``text`` (None when it compiles)."""
    try:
        re2.compile(text, _options())
    except re2.error as exc:
        return f"not a valid RE2 regular expression ({_message(exc)})"
    return None


def subject(url: NormalizedUrl) -> bytes:
    """The string patterns are searched in: ``host/path?query``, decoded."""
    if "%" not in url.path:
        return (url.host + url.path).encode("utf-8")
    return url.host.encode("ascii") + unquote_to_bytes(url.path)


class CompiledRules:
    """A generation's regex and blanket rules, ready to match.

    Raises ValueError when RE2 cannot build the set (too large for
    :data:`MAX_MEM`); the loader checks that before a generation goes live.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.regexes: tuple[Rule, ...] = tuple(r for r in rules if r.kind == "regex")
        self.blankets: tuple[tuple[Scope, Rule], ...] = tuple(
            (scope_of(r.text), r) for r in rules if r.kind == "blanket")
        self._set: re2.Set | None = None
        if self.regexes:
            patterns = re2.Set.SearchSet(_options())
            for rule in self.regexes:
                try:
                    patterns.Add(rule.text)
                except re2.error as exc:
                    raise ValueError(f"{rule.where}: {_message(exc)}") from None
            patterns.Add(_SENTINEL)
            too_big = ValueError(f"the {len(self.regexes)} regular expressions do not fit in "
                                 f"RE2's memory budget ({MAX_MEM >> 20} MiB) as one set")
            try:
                patterns.Compile()
            except re2.error:
                raise too_big from None
            self._set = patterns
            try:
                self._search(b"")
            except StoreUnavailable:
                raise too_big from None

    def _search(self, text: bytes) -> list[int]:
        """Indices of the matching patterns, in file order. Raises
        StoreUnavailable when RE2 could not search (``on_error`` decides,
        rather than a silent "no match")."""
        assert self._set is not None
        indices = self._set.Match(text) or []
        if len(self.regexes) not in indices:
            raise StoreUnavailable("the regular-expression lists could not be searched "
                                   "(RE2 out of memory)")
        return sorted(i for i in indices if i < len(self.regexes))

    @property
    def empty(self) -> bool:
        return not self.regexes and not self.blankets

    @property
    def per_url(self) -> bool:
        """True when the answer depends on the path, not only on the host."""
        return self._set is not None

    def match(self, url: NormalizedUrl) -> list[Rule]:
        """Every rule that applies to ``url``: regexes in file order, then blankets."""
        found: list[Rule] = []
        if self._set is not None:
            found.extend(self.regexes[i] for i in self._search(subject(url)))
        for scope, rule in self.blankets:
            if covers(scope, url.is_ip, url.tunnel):
                found.append(rule)
        return found
