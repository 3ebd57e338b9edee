"""The filter policy: one feature per module, composed behind the Policy hook.

Rules, in order, for a request:
1. the client's group is found (:mod:`.groups`);
2. over its rate limit, the client gets a 429 block page (:mod:`.ratelimit`);
3. a URL on an exception list (or in a category the group allows) passes;
4. a URL in a category the group blocks is blocked (:mod:`.url_verdict`);
   a CONNECT is also judged by its TLS server name;
5. when the list store cannot answer, or the URL cannot be parsed (no list
   can judge it), ``[store] on_error`` decides (:mod:`.failure`);
6. a URL on no list whose path names a file type the group bans is blocked
   (:mod:`.filetypes`);
7. a URL on no list gets its page's learned verdict, and the mark that lets
   Squid skip RESPMOD for a page learned clean (:mod:`.learned`);
8. an allowed search request of a SafeSearch group is rewritten (:mod:`.safesearch`).
A response is scanned only when its URL passed without an exception, its
group scans, and its content type is a scanned text type (:mod:`.scanning`);
a response whose URL passed without an exception is blocked when its type,
sniffed type or Content-Disposition name is one its group bans (:mod:`.filetypes`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import lru_cache

import xxhash

from ..icap.messages import Headers
from ..phrases.timed import phrase_state
from ..verdict import Action, Verdict
from .failure import scan_failed
from .filetypes import FileTypes
from .groups import Group, GroupMap
from .hook import Client, RequestInfo, ResponseInfo, ResponseScan
from .learned import LearnedPages, marked
from .ratelimit import RequestLimit
from .safesearch import SafeSearch
from .scanning import PageScanner, PhraseScan
from .schedule import Clock, active_rules, apply_rules, local_clock, timed_generation
from .url_verdict import UrlReport, UrlVerdicts

#: Scheduled group values kept (groups x rule states x #time: states; few in practice).
_MAX_SCHEDULED = 4096


@lru_cache(maxsize=16)
def _generation_digest(url_generation: str, phrase_tag: str) -> str:
    # asked for by every transaction (ISTag, learned-cache keys); the inputs
    # change only when lists are reloaded
    return xxhash.xxh3_64_hexdigest(f"{url_generation}/{phrase_tag}".encode())[:16]


class FilterPolicy:
    """Groups, URL lists, phrase scanning, learned pages and a rate limit.

    ``scanner`` is None without phrase lists, ``rate_limit`` None without a
    limit; ``phrase_tag`` changes with the phrase lists and scan settings
    (app.load_phrases), so the ISTag and learned verdicts follow them.
    """

    def __init__(self, groups: GroupMap, urls: UrlVerdicts, *,
                 scanner: PageScanner | None = None, phrase_tag: str = "-",
                 learned: LearnedPages | None = None,
                 rate_limit: RequestLimit | None = None,
                 clock: Clock | None = None,
                 filetypes: FileTypes | None = None,
                 safesearch: SafeSearch | None = None) -> None:
        self.groups = groups
        self.urls = urls
        self.failure = urls.failure
        self.scanner = scanner
        self.phrase_tag = phrase_tag
        self.learned = learned or LearnedPages()
        self.rate_limit = rate_limit
        self.filetypes = filetypes  # file types: banned MIME types and extensions
        self.safesearch = safesearch
        # a page learned clean must not skip RESPMOD under file-type rules it never met
        self._rules_tag = phrase_tag if filetypes is None else f"{phrase_tag}/{filetypes.tag}"
        # schedules: the clock is read only when a rule or a #time: phrase depends on it
        self.clock = clock or local_clock()
        self.timed = any(g.schedule for g in groups.groups) or (
            scanner is not None and scanner.timed)
        self._scheduled: dict[tuple[str, tuple[int, ...], str], Group] = {}

    def gauges(self) -> dict[str, float]:
        """Counters of the engines, for statistics."""
        data = self.failure.gauges()
        engine = self.urls.engine
        if engine is not None:
            data["icapfilter_url_cache_hits_total"] = float(engine.cache_hits)
            data["icapfilter_url_store_lookups_total"] = float(engine.store_lookups)
        return data

    @property
    def generation(self) -> str:
        return _generation_digest(self.urls.generation, self._rules_tag)

    # -- schedules ----------------------------------------------------------------

    def _now(self) -> datetime | None:
        return self.clock() if self.timed else None

    def _group(self, client: Client, now: datetime | None) -> Group:
        """The client's group as the schedules make it at ``now``; its ``timed``
        names the active rules and #time: phrases (learned-cache keys)."""
        group = self.groups.match(client)
        if now is None:
            return group
        active = active_rules(group, now)
        phrases = self.scanner.phrases_for(group.name) if self.scanner is not None else None
        state = phrase_state(phrases, now) if phrases is not None else ""
        if not active and not state:
            return group
        # one Group value per state, not one per request (group names are unique)
        key = (group.name, active, state)
        scheduled = self._scheduled.get(key)
        if scheduled is None:
            if len(self._scheduled) > _MAX_SCHEDULED:
                self._scheduled.clear()
            scheduled = self._scheduled[key] = apply_rules(group, active, state)
        return scheduled

    # -- the hook --------------------------------------------------------------

    def decide_request(self, request: RequestInfo) -> Verdict:
        group = self._group(request.client, self._now())
        if self.rate_limit is not None:
            limited = self.rate_limit.verdict(group, request.client)
            if limited is not None:
                return limited
        verdict = self.urls.verdict(group, request.url)
        if verdict is None or not verdict.blocked:
            verdict = self.urls.sni_verdict(group, request) or verdict
        if verdict is None and self.filetypes is not None:
            verdict = self.filetypes.request(group, request)
        learned = None
        if verdict is None and self.learned.mark:
            learned = self._learned_for_request(group, request)
        result = marked(verdict, learned, group)
        if self.safesearch is not None:
            result = self.safesearch.apply(group.name, request, result)
        return result

    def learned_page(self, request: RequestInfo) -> Verdict | None:
        """What RESPMOD would answer from the learned cache for this URL, asked
        before the response exists (the Squid helper's ``learned-clean``)."""
        return self._learned_for_request(self._group(request.client, self._now()), request)

    def _learned_for_request(self, group: Group, request: RequestInfo) -> Verdict | None:
        if self.scanner is None or not group.scan or not self.scanner.scans(group.name) \
                or not self.learned.asks_for(request):
            return None
        return self.learned.get(group, timed_generation(self.generation, group), request.url)

    def begin_response(self, request: RequestInfo,
                       response: ResponseInfo) -> Verdict | ResponseScan:
        now = self._now()
        group = self._group(request.client, now)
        verdict = self.urls.verdict(group, request.url, scanning=self.scanner is not None)
        if verdict is not None:
            return verdict
        decision = self._page_decision(group, request, response, now)
        if self.filetypes is not None:
            return self.filetypes.response(group, response, decision)
        return decision

    def _page_decision(self, group: Group, request: RequestInfo, response: ResponseInfo,
                       now: datetime | None) -> Verdict | ResponseScan:
        """The phrase scan of a response, or why it needs none."""
        scanner = self.scanner
        if scanner is None or not group.scan or not scanner.scans(group.name):
            return Verdict.allow("not scanned", group=group.name)
        unscanned = scanner.unscanned(response)
        if unscanned is not None:
            return Verdict.allow(unscanned, group=group.name)
        generation = timed_generation(self.generation, group)
        learned = self.learned.get(group, generation, request.url)
        if learned is not None:
            return learned
        try:
            scan = scanner.new_scan(group.limit, response.content_type,
                                    response.content_encoding, group=group.name, at=now)
        except Exception as exc:  # noqa: BLE001 - e.g. an encoding chain refused
            return scan_failed(group, exc)
        return PhraseScan(scan, group, self.learned.keeper(group, generation, request.url))

    # -- for icapfilter check ----------------------------------------------------

    def url_report(self, client: Client, url: str, at: datetime | None = None) -> UrlReport:
        """The URL lists' verdict for this client, as REQMOD reaches it at the
        moment ``at`` (default: now) (raises StoreUnavailable instead of
        applying on_error)."""
        return self._request_rules(self.urls.report(self._group(client, at or self._now()), url))

    def _request_rules(self, report: UrlReport) -> UrlReport:
        """The report with what file types and SafeSearch make of the lists'
        verdict, so ``check`` says what REQMOD answers."""
        if self.filetypes is None and self.safesearch is None:
            return report
        request = RequestInfo(Client(), "GET", report.url, Headers())
        verdict = report.verdict
        if verdict is None and self.filetypes is not None:
            verdict = self.filetypes.request(report.group, request)
        if self.safesearch is not None and (verdict is None or not verdict.blocked):
            rewritten = self.safesearch.apply(
                report.group.name, request,
                verdict or Verdict.allow("not listed", group=report.group.name))
            if rewritten.action is Action.REWRITE:
                verdict = rewritten
        return report if verdict is report.verdict else replace(report, verdict=verdict)
