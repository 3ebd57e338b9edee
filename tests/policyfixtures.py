"""A filter policy composed from its features, as app.build_policy composes
it, for the policy tests: keyword arguments name the configuration keys."""

from __future__ import annotations

from collections.abc import Sequence

from icapfilter.config import GroupConfig
from icapfilter.learned import LearnedCache
from icapfilter.phrases import PhraseSet
from icapfilter.policy.failure import FailurePolicy
from icapfilter.policy.filetypes import FileTypes
from icapfilter.policy.filter_policy import FilterPolicy
from icapfilter.policy.groups import GroupMap
from icapfilter.policy.learned import LearnedPages
from icapfilter.policy.ratelimit import RequestLimit
from icapfilter.policy.safesearch import SafeSearch
from icapfilter.policy.scanning import PageScanner
from icapfilter.policy.schedule import Clock
from icapfilter.policy.url_verdict import UrlVerdicts
from icapfilter.ratelimit import RateLimiter
from icapfilter.scan_settings import DEFAULT_SCAN, ScanSettings
from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.store import ListStore


def make_policy(
    groups: Sequence[GroupConfig] = (GroupConfig(),),
    store: ListStore | None = None,
    *,
    phrases: PhraseSet | None = None,
    settings: ScanSettings = DEFAULT_SCAN,
    phrase_tag: str = "t",
    on_error: str = "block",
    learned: LearnedCache | None = None,
    ttl: int = 60,
    mark: bool = False,
    never_respmod: frozenset[str] = frozenset(),
    limiter: RateLimiter | None = None,
    per: str = "ip",
    clock: Clock | None = None,
) -> FilterPolicy:
    failure = FailurePolicy(on_error)
    engine = UrlEngine(store) if store is not None else None
    return FilterPolicy(
        GroupMap(groups), UrlVerdicts(engine, failure),
        scanner=PageScanner(phrases, settings) if phrases is not None else None,
        phrase_tag=phrase_tag,
        learned=LearnedPages(learned, ttl if learned is not None else 0, mark=mark,
                             never_respmod=never_respmod),
        rate_limit=RequestLimit(limiter, per, failure) if limiter is not None else None,
        filetypes=FileTypes.from_groups(groups), safesearch=SafeSearch.from_groups(groups),
        clock=clock)
