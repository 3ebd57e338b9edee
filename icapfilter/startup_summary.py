"""What a server has loaded, said at start, after each reload and to ``lists status``.

An admin starting the filter must see at once what it will do: which
configuration, which store, how many list entries and phrases, which groups,
and above all when it is configured to block nothing at all.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import __version__
from .config import Config
from .listnotes import notes_of

log = logging.getLogger("icapfilter")

NOTHING_BLOCKED = ("NOTHING IS BLOCKED: no URL lists ([lists] paths), no list store "
                   "([store] redis) and no phrase lists ([phrases] dir) are configured; "
                   "every request passes")
NO_GROUP_BLOCKS = ("NOTHING IS BLOCKED: no filter group blocks a category or scans pages "
                   "([[groups]] block, scan)")


@dataclass
class Loaded:
    """What one built configuration holds; JSON-ready (the workers' status files)."""

    store: str = "in-process"
    lists: dict[str, Any] | None = None  # urls.model.GenerationInfo fields
    lists_error: str = ""
    phrases: dict[str, int] | None = None  # entries, files, dead, warnings, errors
    groups: list[str] = field(default_factory=list)
    blocks_nothing: str = ""  # why, when nothing can be blocked

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Loaded:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def _store_name(config: Config) -> str:
    url = config.store.redis
    if not url:
        return "in-process"
    # never a password: neither user:password@ nor ?password= (the status
    # files that carry this line are readable by every local user)
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def plural(count: int, word: str) -> str:
    many = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{count} {word if count == 1 else many}"


def _group_line(group: Any) -> str:
    blocks = "every category" if "*" in group.block else ", ".join(group.block) or "nothing"
    parts = [f"blocks {blocks}"]
    if group.allow:
        parts.append(f"allows {', '.join(group.allow)}")
    if group.clients:
        parts.append(f"clients {', '.join(group.clients)}")
    if not group.scan:
        parts.append("no page scanning")
    elif getattr(group, "own_phrases", False):  # groups: its own phrase lists
        parts.append(f"own phrase lists {group.phrase_dir or 'files'}")
    return f"{group.name} ({'; '.join(parts)})"


def describe(config: Config, policy: object) -> Loaded:
    """Read the counts off a built policy (FilterPolicy or AllowAll)."""
    loaded = Loaded(store=_store_name(config), groups=[_group_line(g) for g in config.groups])
    urls = getattr(getattr(policy, "urls", None), "engine", None)
    if urls is not None:
        try:
            info = urls.store.info()
        except Exception as exc:  # noqa: BLE001 - a store down is reported, not fatal
            loaded.lists_error = str(exc)
        else:
            if info is None:
                loaded.lists_error = "no list generation is active"
            else:
                loaded.lists = {
                    "generation": info.generation, "loaded_at": info.loaded_at,
                    "duration": info.duration, "entries": info.entries,
                    "exceptions": info.exceptions, "errors": info.errors,
                    "counts": dict(info.counts), "sources": list(info.sources),
                    "exception_categories": sorted(
                        c.name for c in info.categories.values() if c.exception),
                }
    scanner = getattr(policy, "scanner", None)
    if scanner is not None and getattr(scanner, "shared", True):  # else only groups' own
        phrases = scanner.phrases
        notes = notes_of(phrases)
        loaded.phrases = {"entries": len(phrases), "files": len(phrases.files),
                          "dead": notes.dead if notes else 0,
                          "warnings": notes.warnings if notes else 0,
                          "errors": notes.errors if notes else 0}
    if urls is None and scanner is None:
        loaded.blocks_nothing = NOTHING_BLOCKED
    elif not any(g.block for g in config.groups) and not (
            scanner is not None and any(g.scan for g in config.groups)):
        loaded.blocks_nothing = NO_GROUP_BLOCKS
    return loaded


def lists_line(loaded: Loaded) -> str:
    if loaded.lists_error:
        return f"URL lists: none in force ({loaded.lists_error})"
    info = loaded.lists
    if info is None:
        return "URL lists: none configured ([lists] paths)"
    counts = info.get("counts", {})
    return (f"URL lists: generation {info['generation']}: {plural(info['entries'], 'entry')} "
            f"({info['exceptions']} exceptions) in {plural(len(counts), 'category')}"
            + (f", {plural(info['errors'], 'line')} skipped" if info.get("errors") else ""))


def phrases_line(loaded: Loaded) -> str:
    p = loaded.phrases
    if p is None:
        return "phrase lists: none configured ([phrases] dir)"
    extra = []
    if p["dead"]:
        extra.append(f"{p['dead']} dead entries (never match, as in e2guardian)")
    if p["warnings"]:
        extra.append(f"{p['warnings']} lines read as e2guardian reads them")
    if p["errors"]:
        extra.append(f"{p['errors']} lines skipped")
    return (f"phrase lists: {p['entries']} phrases and combinations from {p['files']} files"
            + (f"; {', '.join(extra)}" if extra else ""))


def what_is_loaded(loaded: Loaded) -> list[str]:
    """The lines shared by the start-up summary, ``reload`` and ``lists status``."""
    return [lists_line(loaded), phrases_line(loaded)]


def source_name(config: Config) -> str:
    if config.source == "<defaults>":
        return "none (built-in defaults; give --config FILE)"
    return os.path.abspath(config.source)


def startup_lines(config: Config, loaded: Loaded, pid_file: str) -> list[str]:
    s = config.server
    source = source_name(config)
    workers = f"{s.workers} worker{'s' if s.workers > 1 else ''} x {s.threads} threads"
    return [
        f"icapfilter {__version__}; configuration: {source}",
        f"list store: {loaded.store}",
        *what_is_loaded(loaded),
        f"groups: {'; '.join(loaded.groups)}",
        f"listening on {s.listen}: {workers}; pid file {pid_file}",
    ]


def log_startup(config: Config, loaded: Loaded, pid_file: str) -> None:
    lines = startup_lines(config, loaded, pid_file)
    for line in lines:
        log.info("%s", line)
    if loaded.blocks_nothing:
        log.warning("%s", loaded.blocks_nothing)
        lines.append(f"WARNING: {loaded.blocks_nothing}")
    if sys.stderr.isatty() and not _logs_to_stderr():
        # started by hand with [log] error set: the summary is in the file,
        # but the admin is looking at the terminal
        for line in lines:
            print(line, file=sys.stderr)
        print(f"(more in {config.log.error})", file=sys.stderr)


def _logs_to_stderr() -> bool:
    return any(getattr(h, "stream", None) is sys.stderr for h in logging.getLogger().handlers)


def age(seconds_since_epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(seconds_since_epoch))
