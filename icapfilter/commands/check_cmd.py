"""``icapfilter check URL``: what would the URL lists say about this request?"""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import click

from icapfilter.commands.lists_cmd import redis_store, redis_url_option
from icapfilter.urls.check import check_url
from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.errors import InvalidUrl, LoadError, StoreUnavailable
from icapfilter.urls.loader import load_lists
from icapfilter.urls.store import ListStore, MemoryStore


@click.command("check")
@click.argument("url")
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check(
    url: str,
    lists_path: tuple[str, ...],
    redis_url: str | None,
    config_path: str | None,
    prefix: str,
    client_ip: str | None,
    user: str | None,
    as_json: bool,
) -> None:
    """Print the verdict for URL: the list entry, category and filter group behind it.

    With --lists or --redis every list category blocks; with --config the
    configured groups decide (--client-ip/--user pick the group).

    Exit status: 0 when a verdict was reached (allow or block), 1 when none
    could be (bad URL, lists not loadable, store down), 2 on usage error.
    """
    if sum(map(bool, (lists_path, redis_url, config_path))) != 1:
        raise click.UsageError("give exactly one of --lists PATH, --redis URL or --config FILE")
    if config_path:
        result = _check_with_config(config_path, url, client_ip, user, as_json)
        _print(result, as_json)
        return
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
        store = redis_store(redis_url or "", prefix)
    try:
        result = check_url(UrlEngine(store, cache_size=0), url, group="default")
    except (InvalidUrl, StoreUnavailable) as exc:
        _fail(str(exc), as_json)
    result["client_ip"], result["user"] = client_ip, user
    _print(result, as_json)


def _check_with_config(config_path: str, url: str, client_ip: str | None, user: str | None,
                       as_json: bool) -> dict:
    from icapfilter.app import build_policy
    from icapfilter.config import ConfigError, load_config
    from icapfilter.filtering import FilterPolicy
    from icapfilter.policy import Client

    try:
        policy = build_policy(load_config(config_path))
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if not isinstance(policy, FilterPolicy) or policy.urls is None:
        _fail("the configuration names no lists and no store", as_json)
    group = policy.groups.match(Client(client_ip, user))
    try:
        result = check_url(policy.urls, url, group=group.name,
                           blocks=lambda hit: group.blocks(hit.category),
                           allows=lambda hit: hit.exception or hit.category in group.allow)
    except (InvalidUrl, StoreUnavailable) as exc:
        _fail(str(exc), as_json)
    result["client_ip"], result["user"] = client_ip, user
    return result


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"verdict:  {result['verdict']}")
    click.echo(f"category: {result['category'] or '-'}")
    click.echo(f"entry:    {result['entry'] or '-'}{' (exception)' if result['exception'] else ''}")
    click.echo(f"group:    {result['group']}")
    for hit in result["hits"][1:]:
        click.echo(f"also:     {hit['category']} ({hit['entry']})")


def _fail(message: str, as_json: bool) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"error": message}))
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
