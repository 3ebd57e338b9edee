"""The policy of a ``squid-helper`` child: the URL lists, phrase lists only when asked.

Squid runs several helper children, each a whole process. The phrase lists
(their automaton is tens of MB) serve a helper for one thing only: the
learned-mode tag of a page verdict, asked by ``learned-clean`` questions and,
with ``mark_requests``, by ``blocked`` ones, and only with a shared store
(the learned cache of the in-process store is per process, always empty
here). Every other question is answered by the policy built without them:
the URL decision reads no phrase list. So a helper starts lean, with the
mapped list image, and builds the full policy the first time a question
needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from .config import Config
from .config.sections import PhrasesConfig
from .policy import Policy, RequestInfo, ResponseInfo
from .policy.hook import ResponseScan
from .verdict import Verdict

log = logging.getLogger("icapfilter.squidhelper")


def without_phrases(config: Config) -> Config:
    """The same configuration with no phrase list, global or per group."""
    groups = [replace(g, phrase_dir="", phrase_banned=[], phrase_weighted=[],
                      phrase_exception=[]) for g in config.groups]
    return replace(config, phrases=PhrasesConfig(), groups=groups)


def learned_needs_phrases(config: Config) -> bool:
    """A learned verdict can reach this helper: learned mode with a shared store."""
    return config.learned.ttl > 0 and bool(config.store.redis)


class HelperPolicy:
    """The lean policy, and the full one built on the first question that needs it."""

    def __init__(self, lean: Policy, build_full: Callable[[], Policy], marks: bool) -> None:
        self.lean = lean
        self._build_full = build_full
        self._full: Policy | None = None
        self._marks = marks  # blocked questions carry the learned mark: they need it too

    def full(self) -> Policy:
        if self._full is None:
            log.info("squid-helper: a question needs the phrase lists (learned mode); "
                     "loading them")
            self._full = self._build_full()
        return self._full

    @property
    def generation(self) -> str:
        return (self._full or self.lean).generation

    def decide_request(self, request: RequestInfo) -> Verdict:
        return (self.full() if self._marks else self.lean).decide_request(request)

    def learned_page(self, request: RequestInfo) -> Verdict | None:
        return self.full().learned_page(request)

    def begin_response(self, request: RequestInfo,
                       response: ResponseInfo) -> Verdict | ResponseScan:
        return self.full().begin_response(request, response)


def helper_policy(config: Config, build: Callable[[Config], Policy]) -> Policy:
    """What a helper answers with: ``build`` is app.build_policy."""
    has_urls = bool(config.lists.paths or config.store.redis)
    if not has_urls:
        return build(config)  # nothing to be lean about
    lean = build(without_phrases(config))
    if not learned_needs_phrases(config):
        return lean
    return HelperPolicy(lean, lambda: build(config), marks=config.learned.mark_requests)


def log_ready(config: Config, concurrency: bool | None) -> None:
    """What a helper says when it starts answering."""
    if config.learned.ttl > 0 and not config.store.redis:
        # Only a shared store holds what `icapfilter serve` learned; answering
        # ERR (scan it) is safe, but the admin meant something else.
        log.warning("learned-clean lookups will always answer ERR: they need [store] redis, "
                    "the store `icapfilter serve` learns into (the in-process one is per process)")
    log.info("squid-helper ready (concurrency: %s)",
             {None: "auto", True: "on", False: "off"}[concurrency])
