"""Composition root: configuration in, a running policy out. Nothing global."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

import xxhash

from . import __version__
from .accesslog import AccessLog
from .blockpage import BlockPage
from .config import Config, ConfigError
from .policy import AllowAll, Policy
from .server.handler import Recorder
from .server.runner import Built

log = logging.getLogger("icapfilter")


class BuildError(ConfigError):
    """Lists or phrase lists named by the configuration could not be loaded."""


def make_store(config: Config):  # type: ignore[no-untyped-def]
    """The list store: Redis when a URL is configured, else the in-process store.

    A ``redis+cluster://host:port,...`` URL selects the Redis Cluster store (the
    lists spread over the masters; docs/operations.md), with the same fault
    handling as a single Redis.
    """
    if config.store.redis:
        from .redisstore import open_store

        # Short socket timeouts and fail-fast: a Redis fault must cost a request
        # half a second at most, never a worker thread (docs/operations.md).
        return open_store(config.store.redis, fail_fast=True)
    from .urls.memory_store import MemoryStore

    return MemoryStore()


def _file_tag(paths: list[str], settings: str = "") -> str:
    """The phrase tag of learned verdicts: it changes with the list files, the
    scan settings and the engine's version, so a verdict learned under other
    rules is never reused."""
    from .phrases import RULES_VERSION

    parts = [f"icapfilter {__version__} rules {RULES_VERSION}", settings]
    for path in sorted(set(paths)):
        try:
            st = Path(path).stat()
            parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{path}:missing")
    return xxhash.xxh3_64_hexdigest("\n".join(parts).encode())


def load_phrases(config: Config):  # type: ignore[no-untyped-def]
    from .phrases import load_phrase_dir, load_phrase_set

    p = config.phrases
    sets = []
    errors = []
    if p.dir:
        if not Path(p.dir).is_dir():
            raise BuildError(f"[phrases] dir: no such folder {p.dir!r}")
        phrase_set, errs = load_phrase_dir(Path(p.dir))
        sets.append(phrase_set)
        errors += errs
    if p.banned or p.weighted or p.exception:
        for path in [*p.banned, *p.weighted, *p.exception]:
            if not Path(path).is_file():
                raise BuildError(f"[phrases]: no such phrase list {path!r}")
        phrase_set, errs = load_phrase_set([Path(x) for x in p.banned],
                                           [Path(x) for x in p.weighted],
                                           [Path(x) for x in p.exception])
        sets.append(phrase_set)
        errors += errs
    if len(sets) > 1:
        raise BuildError("[phrases]: use either dir or banned/weighted/exception, not both")
    phrase_set = sets[0]
    from .listnotes import report_phrase_problems

    report_phrase_problems(errors, phrase_set, log)
    log.info("phrase lists: %d phrases and combinations from %d files, %d problems; "
             "matcher %s", len(phrase_set), len(phrase_set.files), len(errors),
             phrase_set.matcher.engine if phrase_set.matcher else "none")
    return phrase_set, _file_tag(list(phrase_set.files), repr(p))


def build_policy(config: Config, store=None) -> Policy:  # type: ignore[no-untyped-def]
    from .policy.failure import FailurePolicy
    from .policy.filter_policy import FilterPolicy
    from .policy.learned import LearnedPages
    from .policy.ratelimit import RequestLimit
    from .policy.schedule import local_clock
    from .policy.url_verdict import UrlVerdicts
    from .urls.engine import UrlEngine
    from .urls.errors import LoadError, StoreUnavailable
    from .urls.loader import load_lists

    filetypes, safesearch = _filetypes_and_safesearch(config)
    if not config.lists.paths and not config.phrases.configured and not config.store.redis \
            and not any(g.own_phrases for g in config.groups) \
            and filetypes is None and safesearch is None:
        return AllowAll()
    if config.lists.paths and not config.store.redis:
        from .urls.image_config import in_process_store

        try:  # the mapped list image (issue 21), or the dict when no image can be kept
            store, report = in_process_store(config.lists, store, load_lists)
        except LoadError as exc:
            raise BuildError(f"[lists] paths: {exc}") from None
        log.info("lists: %s", report.summary())
    store = store if store is not None else make_store(config)
    # No lists and no shared store: there is no URL engine, rather than an empty
    # one (which would count as "lists vanished" and apply on_error).
    has_lists = bool(config.lists.paths or config.store.redis)
    urls = UrlEngine(store, cache_size=config.store.decision_cache) if has_lists else None
    if config.store.redis and urls is not None:
        try:
            log.info("list store %s: generation %s", config.store.redis.split("@")[-1],
                     urls.generation)
        except StoreUnavailable as exc:
            log.error("list store unavailable at start (on_error=%s): %s",
                      config.store.on_error, exc)
    phrases, tag = (load_phrases(config) if config.phrases.configured else (None, "-"))
    from .groupsetup import policy_groups  # groups: own phrase lists, user file, categories

    scanner, groups, tag = policy_groups(config, store, has_lists, phrases, tag)
    failure = FailurePolicy(config.store.on_error)
    learned = LearnedPages()
    if config.learned.ttl > 0:
        learned = LearnedPages(_learned_cache(config, store), config.learned.ttl,
                               mark=config.learned.mark_requests,
                               never_respmod=_never_respmod(config))
    rate_limit = None
    if config.ratelimit.requests > 0:
        rate_limit = RequestLimit(_rate_limiter(config, store), config.ratelimit.per, failure)
    return FilterPolicy(groups, UrlVerdicts(urls, failure), scanner=scanner,
                        phrase_tag=tag, learned=learned, rate_limit=rate_limit,
                        filetypes=filetypes, safesearch=safesearch,
                        clock=local_clock(config.server.timezone))  # schedules


def _filetypes_and_safesearch(config: Config):  # type: ignore[no-untyped-def]
    """The groups' file-type rules (their list files read) and SafeSearch."""
    from .policy.filetypes import FileTypes
    from .policy.safesearch import SafeSearch

    try:
        filetypes = FileTypes.from_groups(config.groups)
    except ValueError as exc:
        raise BuildError(f"[[groups]] {exc}") from None
    return filetypes, SafeSearch.from_groups(config.groups)


# Extensions of pages that are (almost) never learned: images, media, fonts
# and archives go through RESPMOD but are answered 204 by their Content-Type
# at preview, unscanned, so a learned lookup for them only finds a miss.
_MEDIA_EXTENSIONS = frozenset(
    "jpg jpeg png gif webp avif ico bmp tif tiff svgz mp4 m4v webm mkv avi mov mp3 m4a ogg "
    "oga wav flac woff woff2 ttf otf eot zip gz tgz bz2 xz 7z rar iso exe msi dmg deb rpm "
    "apk".split())


def _never_respmod(config: Config) -> frozenset[str]:
    """Extensions whose learned verdict is not looked up at REQMOD: any
    Transfer-Ignore the server advertises to Squid (never sent to RESPMOD),
    and media types (never scanned). Skipping a lookup can only cost a mark,
    never let a page through unscanned: the page still goes to RESPMOD."""
    from .transfer import TransferLists

    return _MEDIA_EXTENSIONS | TransferLists.from_config(config.server).ignored_extensions()


def _learned_cache(config: Config, store):  # type: ignore[no-untyped-def]
    if config.store.redis:
        from . import redisstore

        return redisstore.learned_cache(store)
    from .learned import MemoryLearnedCache

    return MemoryLearnedCache(config.learned.max_entries)


def _rate_limiter(config: Config, store):  # type: ignore[no-untyped-def]
    r = config.ratelimit
    if config.store.redis:
        from . import redisstore

        return redisstore.rate_limiter(store, r.requests, r.window)
    from .ratelimit import MemoryRateLimiter

    return MemoryRateLimiter(r.requests, r.window)


def build(config: Config) -> Built:
    b = config.blockpage
    try:
        page = BlockPage.configured(b.template, b.template_dir,
                                    default_language=b.default_language, detail=b.detail,
                                    contact_url=b.contact_url, full_groups=b.full_groups)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        where = b.template or b.template_dir or "(shipped pages)"
        raise BuildError(f"[blockpage] {where}: {exc}") from None
    return Built(config=config, policy=build_policy(config), blockpage=page)


def make_recorder(config: Config) -> Recorder | None:
    """The access log named by ``[log] access`` ("-" is stdout), or none."""
    if not config.log.access:
        return None
    return AccessLog(config.log.access, config.log.format,
                     groups=[group.name for group in config.groups])


def setup_logging(config: Config) -> None:
    level = getattr(logging, config.log.level.upper())
    handlers: list[logging.Handler] = []
    if config.log.error:
        handlers.append(logging.handlers.WatchedFileHandler(config.log.error))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    if config.log.syslog:
        address = "/var/run/log" if Path("/var/run/log").exists() else "/dev/log"
        syslog = logging.handlers.SysLogHandler(address=address)
        syslog.setFormatter(logging.Formatter("icapfilter[%(process)d]: %(message)s"))
        handlers.append(syslog)
    fmt = logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(message)s")
    for handler in handlers[:1]:
        handler.setFormatter(fmt)
    logging.basicConfig(level=level, handlers=handlers, force=True)
