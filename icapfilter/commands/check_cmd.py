"""``icapfilter check URL...``: what would the URL lists say about these requests?"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, NoReturn

import click

from icapfilter.commands.lists_cmd import redis_url_option
from icapfilter.commands.options import show_list_errors_option
from icapfilter.commands.url_hint import explain
from icapfilter.policy.failure import FailurePolicy
from icapfilter.policy.groups import EVERY_LIST_BLOCKS
from icapfilter.policy.url_verdict import UrlReport, UrlVerdicts
from icapfilter.redisstore import open_store
from icapfilter.timerules import parse_moment
from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.errors import LoadError, StoreUnavailable
from icapfilter.urls.loader import load_lists
from icapfilter.urls.memory_store import MemoryStore
from icapfilter.urls.store import ListStore

#: Decisions kept while checking many URLs: a day's log repeats its hosts.
CACHE_SIZE = 50_000

Judge = Callable[[str], dict[str, Any]]


def moment_option(_ctx: click.Context, _param: click.Parameter,
                   value: str | None) -> datetime | None:
    """``--at``: a local time for schedules (timerules.parse_moment)."""
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("check")
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@click.option(
    "--lists",
    "lists_path",
    metavar="PATH",
    multiple=True,
    help="Check against this list folder/archive/file (loaded in memory).",
)
@click.option("--redis", "redis_url", metavar="URL", help="Check against the shared Redis store.",
              callback=redis_url_option)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Use the configured store, lists and filter groups.")
@click.option("--prefix", default="icapfilter:bl", show_default=True, help="Redis key prefix.")
@click.option("--client-ip", metavar="IP", help="Client address (for group selection).")
@click.option("--user", metavar="NAME", help="Authenticated user (for group selection).")
@click.option("--group", "squid_group", metavar="NAME",
              help="The group Squid names in X-Icapfilter-Group (needs --config).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per URL, one a line.")
@click.option("--at", "at", metavar="'YYYY-MM-DD HH:MM'", callback=moment_option,
              help="Judge as at this local time (schedules; needs --config).")
@show_list_errors_option
def check(
    urls: tuple[str, ...],
    lists_path: tuple[str, ...],
    redis_url: str | None,
    config_path: str | None,
    prefix: str,
    client_ip: str | None,
    user: str | None,
    as_json: bool,
    at: datetime | None = None,
    squid_group: str | None = None,
) -> None:
    """Print the verdict for each URL: the list entry, category and filter group behind it.

    A URL of - reads URLs from standard input, one a line; the lists are
    loaded once for all of them. With --lists or --redis every list category
    blocks; with --config the configured groups decide (--client-ip/--user
    pick the group). A URL that cannot be parsed gets what the server gives
    it: blocked ([store] on_error = "block", the default), reason
    "unparseable (...)".

    Exit status: 0 when every URL got a verdict (allow or block), 1 when one
    could not (lists not loadable, store down), 2 on usage error.
    """
    if sum(map(bool, (lists_path, redis_url, config_path))) != 1:
        raise click.UsageError("give exactly one of --lists PATH, --redis URL or --config FILE")
    if urls.count("-") > 1:
        raise click.UsageError("- (standard input) may be given once")
    if at is not None and not config_path:
        raise click.UsageError("--at needs --config (schedules are configured per group)")
    if squid_group is not None and not config_path:
        raise click.UsageError("--group needs --config (groups are configured)")
    if config_path:
        judge = _config_judge(config_path, client_ip, user, as_json, at, squid_group)
    else:
        judge = _list_judge(lists_path, redis_url, prefix, as_json)
    failed = False
    out = _Out()
    several = len(urls) > 1 or "-" in urls
    for url in _expand(urls):
        try:
            result = judge(url)
        except StoreUnavailable as exc:
            failed = True
            _print_error(out, url, str(exc), as_json)
            continue
        result["client_ip"], result["user"] = client_ip, user
        explain(result, url)
        _print(out, result, as_json, several)
    if failed:
        sys.exit(1)


def _expand(urls: Iterable[str]) -> Iterator[str]:
    """The URLs in order, ``-`` replaced by the non-blank lines of standard input."""
    for url in urls:
        if url != "-":
            yield url
            continue
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")
        try:
            for line in stdin:
                line = line.strip()
                if line:
                    yield line
        finally:
            stdin.detach()  # closing the wrapper must not close the process's stdin


def _list_judge(lists_path: tuple[str, ...], redis_url: str | None, prefix: str,
                as_json: bool) -> Judge:
    store: ListStore
    if lists_path:
        store = MemoryStore()
        try:
            report = load_lists(store, lists_path)
        except LoadError as exc:
            _fail(f"lists not loaded: {exc}", as_json)
        for problem in report.problems[:20]:
            click.echo(str(problem), err=True)
    else:
        store = open_store(redis_url or "", prefix=prefix)
    verdicts = UrlVerdicts(UrlEngine(store, cache_size=CACHE_SIZE), FailurePolicy())
    return lambda url: _as_dict(verdicts.report(EVERY_LIST_BLOCKS, url),
                                verdicts.generation)


def _config_judge(config_path: str, client_ip: str | None, user: str | None,
                  as_json: bool, at: datetime | None = None,
                  squid_group: str | None = None) -> Judge:
    from icapfilter.app import build_policy
    from icapfilter.config import ConfigError, load_config
    from icapfilter.policy import Client
    from icapfilter.policy.filter_policy import FilterPolicy

    try:
        policy = build_policy(load_config(config_path))
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if not isinstance(policy, FilterPolicy) or policy.urls.engine is None:
        _fail("the configuration names no lists and no store", as_json)
    client = Client(client_ip, user, squid_group)
    if at is not None:  # schedules: the verdict at that moment, which the output names
        return lambda url: {**_as_dict(policy.url_report(client, url, at),
                                       policy.urls.generation), "at": at.isoformat(" ")}
    return lambda url: _as_dict(policy.url_report(client, url), policy.urls.generation)


def _as_dict(report: UrlReport, generation: str) -> dict[str, Any]:
    """What ``check`` prints for one URL: the server's verdict and what led to it."""
    verdict, ruling = report.verdict, report.ruling
    if report.unparseable is not None:
        reason = f"unparseable ({report.unparseable})"
    else:
        reason = verdict.reason if verdict is not None else "not listed"
    return {
        "url": report.url,
        "verdict": "block" if verdict is not None and verdict.blocked else "allow",
        "reason": reason,
        "category": verdict.category if verdict is not None else None,
        "entry": ruling.hit.entry if ruling is not None else None,
        "exception": ruling.hit.exception if ruling is not None else False,
        # file:line of a regex or blanket line (hashed entries keep no origin)
        "source": ruling.hit.source if ruling is not None else None,
        "group": report.group.name,
        "generation": generation,
        "hits": [{"category": h.category, "entry": h.entry, "exception": h.exception,
                  "source": h.source} for h in report.hits],
    }


class _Out:
    """Standard output without a flush per line: a day's log is checked in
    one go. A line of standard input that is not UTF-8 comes back escaped."""

    def __init__(self) -> None:
        self._stream = sys.stdout

    def __call__(self, text: str) -> None:
        if not text.isascii():
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        self._stream.write(text + "\n")


def _print(_echo: _Out, result: dict[str, Any], as_json: bool, several: bool = False) -> None:
    if as_json:
        _echo(json.dumps(result, ensure_ascii=False))
        return
    would = "would be blocked" if result["verdict"] == "block" else "would be allowed"
    if several:
        _echo(f"url:      {result['url']}")
    _echo(f"verdict:  {result['verdict']}")
    _echo(f"reason:   {would}: {result['reason']}")
    _echo(f"category: {result['category'] or '-'}")
    _echo(f"entry:    {result['entry'] or '-'}{' (exception)' if result['exception'] else ''}")
    if result.get("source"):
        _echo(f"source:   {result['source']}")
    _echo(f"group:    {result['group']}")
    for hit in result["hits"][1:]:
        where = f", {hit['source']}" if hit["source"] else ""
        _echo(f"also:     {hit['category']} ({hit['entry']}{where})")
    if several:
        _echo("")


def _print_error(_echo: _Out, url: str, message: str, as_json: bool) -> None:
    if as_json:
        _echo(json.dumps({"url": url, "error": message}, ensure_ascii=False))
    _echo_err(f"error: {url}: {message}")


def _echo_err(text: str) -> None:
    click.echo(text.encode("utf-8", "backslashreplace").decode("utf-8"), err=True)


def _fail(message: str, as_json: bool) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"error": message}))
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
