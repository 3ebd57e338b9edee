"""`icapfilter scan FILE`: run the phrase filter on a saved page.

Meant for tuning a group's naughtiness limit: scan pages that should and
should not pass and look at the scores. Exit codes: 0 whenever a verdict was
produced (allow or block), 2 for bad usage or unreadable input/lists.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click

from ..phrases import LoadError, ScanResult, load_phrase_dir
from ..phrases.in_memory import feed_whole
from ..phrases.phraseset import PhraseSet
from ..phrases.timed import phrases_at
from ..policy.scanning import PageScanner
from ..policy.schedule import group_at, local_clock
from ..scan_settings import DEFAULT_LIMIT, DEFAULT_SCAN, FILTER_MODES, WEIGHTED_MODES, ScanSettings
from .check_cmd import moment_option

DEFAULT_LIST_DIR = Path("/etc/e2guardian/lists")
_GZIP_MAGIC = b"\x1f\x8b"


def scan_file(
    phrase_set: PhraseSet,
    data: bytes,
    settings: ScanSettings = DEFAULT_SCAN,
    *,
    limit: int = DEFAULT_LIMIT,
    content_type: str | None = "text/html",
) -> ScanResult:
    """Scan a saved page as the server scans a response of this type; gzip is
    recognised by its magic bytes, not a header.

    ``settings.e2guardian_exact`` gives e2guardian 5.3.5's verdict and
    naughtiness exactly; the default adds the decoded view (character
    references, Unicode case folding of UTF-8 pages), which can only block more.
    """
    encoding = "gzip" if data.startswith(_GZIP_MAGIC) else None
    scan = PageScanner(phrase_set, settings).new_scan(limit, content_type, encoding)
    return feed_whole(scan, data)


def format_result(result: ScanResult, limit: int) -> str:
    lines = [
        f"verdict: {result.verdict}",
        f"score:   {result.score} (limit {limit}, blocks when score > limit)",
        f"reason:  {result.reason}",
    ]
    if result.category:
        lines.append(f"category: {result.category}")
    lines.append(
        f"scanned: {result.bytes_scanned} bytes" + (" (truncated)" if result.truncated else "")
    )
    for note in result.notes:
        lines.append(f"note:    {note}")
    if result.phrases:
        lines.append("phrases:")
        for h in result.phrases:
            cat = f"  [{h.category}]" if h.category else ""
            text = h.phrase if h.combination else f"<{h.phrase}>"
            lines.append(f"  {h.list_kind!s:9} {h.weight:>5} x{h.count:<4} {text}{cat}")
    return "\n".join(lines)


@click.command("scan")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@click.option(
    "--phraselists",
    "list_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_LIST_DIR,
    show_default=True,
    help="Folder laid out like e2guardian's lists/ (bannedphraselist, ...).",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Use the configured phrase lists, modes and the group's limit.")
@click.option("--group", default=None, help="Filter group whose limit applies (with --config).")
@click.option("--limit", type=int, default=None,
              help=f"Naughtiness limit [default: {DEFAULT_LIMIT}].")
@click.option("--weighted-mode", type=click.Choice(WEIGHTED_MODES), default=None,
              help=f"[default: {DEFAULT_SCAN.weighted_mode}]")
@click.option("--filter-mode", type=click.Choice(FILTER_MODES), default=None,
              help=f"e2guardian's phrasefiltermode 1, 0 or 2 [default: {DEFAULT_SCAN.filter_mode}]")
@click.option("--e2guardian-exact", "e2guardian_exact", is_flag=True, default=None,
              help="e2guardian 5.3.5's verdicts exactly: no decoded view of character "
                   "references and UTF-8 case.")
@click.option("--content-type", default="text/html", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--at", "at", metavar="'YYYY-MM-DD HH:MM'", callback=moment_option,
              help="Scan as at this local time (#time: phrases, schedules); default now.")
@click.option("--show-list-errors", is_flag=True, help="Print list warnings/errors to stderr.")
def scan(
    file: str,
    list_dir: Path,
    config_path: str | None,
    group: str | None,
    limit: int | None,
    weighted_mode: str | None,
    filter_mode: str | None,
    content_type: str,
    as_json: bool,
    show_list_errors: bool,
    e2guardian_exact: bool | None,
    at: datetime | None = None,
) -> None:
    """Scan a saved page (HTML, gzip allowed; '-' for stdin) with the phrase lists."""
    try:
        if file == "-":
            data = sys.stdin.buffer.read()
        else:
            data = Path(file).read_bytes()
    except OSError as exc:
        raise click.UsageError(f"cannot read {file}: {exc.strerror or exc}") from exc
    errors: list[LoadError] = []
    if show_list_errors:
        from ..listnotes import show_list_errors as show_all

        show_all()
    if config_path:
        phrase_set, settings, group_limit = _configured(config_path, group, at)
    else:
        if group is not None:
            raise click.UsageError("--group needs --config")
        if not list_dir.is_dir():
            raise click.UsageError(f"phrase list folder {list_dir} does not exist")
        phrase_set, errors = load_phrase_dir(list_dir)
        if len(phrase_set) == 0:
            raise click.UsageError(f"no phrase lists found in {list_dir}")
        settings, group_limit = DEFAULT_SCAN, DEFAULT_LIMIT
        phrase_set = phrases_at(phrase_set, at or datetime.now())  # #time: entries
    limit = group_limit if limit is None else limit
    settings = replace(
        settings, weighted_mode=weighted_mode or settings.weighted_mode,
        filter_mode=filter_mode or settings.filter_mode,
        e2guardian_exact=settings.e2guardian_exact if e2guardian_exact is None
        else e2guardian_exact)
    if show_list_errors:
        for err in errors:
            click.echo(str(err), err=True)
    result = scan_file(phrase_set, data, settings, limit=limit, content_type=content_type)
    if as_json:
        obj = result.to_dict()
        obj["limit"] = limit
        obj["e2guardian_exact"] = settings.e2guardian_exact
        obj["list_errors"] = sum(1 for e in errors if e.level == "error")
        obj["list_warnings"] = sum(1 for e in errors if e.level == "warning")
        click.echo(json.dumps(obj, ensure_ascii=False))
    else:
        click.echo(format_result(result, limit))


def _configured(config_path: str, group: str | None,
                at: datetime | None = None) -> tuple[PhraseSet, ScanSettings, int]:
    """Phrase set, scan settings and the group's limit, as the server takes them
    at the moment ``at`` (default: now in ``[server] timezone``)."""
    from ..app import load_phrases
    from ..config import ConfigError, load_config
    from ..policy.groups import GroupMap

    try:
        config = load_config(config_path)
        own = {g.name: g for g in config.groups if g.own_phrases}  # a group's own lists
        name = GroupMap(config.groups).default.name if group is None else group
        if name in own:
            from ..groupsetup import load_group_phrases

            phrase_set, _tag = load_group_phrases(config, own[name])
        else:
            if not config.phrases.configured:
                raise ConfigError(f"{config_path}: [phrases] names no phrase lists")
            phrase_set, _tag = load_phrases(config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    groups = GroupMap(config.groups)
    chosen = groups.default if group is None else groups.named(group)
    if chosen is None:
        names = ", ".join(g.name for g in groups.groups)
        raise click.UsageError(f"no group {group!r} (groups: {names})")
    moment = at or local_clock(config.server.timezone)()  # schedules
    chosen = group_at(chosen, moment)
    return phrases_at(phrase_set, moment), config.phrases.scan_settings(), chosen.limit
