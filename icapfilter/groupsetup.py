"""The filter groups' part of building a policy (app.build_policy): each
group's phrase lists, the user-to-group file, and the category names the
groups block or allow, checked against what the lists define.

Runs at ``config check``, ``serve`` and every reload (each builds the policy),
so a typo in a category name or a bad line in the user file stops all three
with the file and key or line, instead of silently blocking nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import Config, ConfigError, GroupConfig
from .phrases import PhraseSet
from .policy.categories import (
    KnownCategories,
    category_aliases,
    category_problems,
    phrase_categories,
)
from .policy.groupfile import GroupFileError, read_group_file
from .policy.groups import GroupMap
from .policy.scanning import PageScanner

log = logging.getLogger("icapfilter")


class GroupSetupError(ConfigError):
    """A group's phrase lists, the user file or a category name cannot be used."""


def _phrase_key(group: GroupConfig) -> tuple[Any, ...]:
    """Groups naming the same files share one phrase set (one automaton in memory)."""
    def resolved(paths: Iterable[str]) -> tuple[str, ...]:
        return tuple(str(Path(p).resolve()) for p in paths)

    return (str(Path(group.phrase_dir).resolve()) if group.phrase_dir else "",
            resolved(group.phrase_banned), resolved(group.phrase_weighted),
            resolved(group.phrase_exception))


def load_group_phrases(config: Config, group: GroupConfig) -> tuple[PhraseSet, str]:
    """One group's own phrase set and its tag (also for ``icapfilter scan --group``)."""
    from .app import BuildError, load_phrases

    where = f'{config.source}: [[groups]] "{group.name}"'
    if group.phrase_dir and not Path(group.phrase_dir).is_dir():
        raise GroupSetupError(f"{where} phrase_dir: no such folder {group.phrase_dir!r}")
    for name in ("phrase_banned", "phrase_weighted", "phrase_exception"):
        for path in getattr(group, name):
            if not Path(path).is_file():
                raise GroupSetupError(f"{where} {name}: no such phrase list {path!r}")
    own = replace(config.phrases, dir=group.phrase_dir, banned=group.phrase_banned,
                  weighted=group.phrase_weighted, exception=group.phrase_exception)
    try:
        return load_phrases(replace(config, phrases=own))  # type: ignore[no-any-return]
    except BuildError as exc:
        raise GroupSetupError(f"{where}: {exc}") from None


def group_phrases(config: Config, shared: PhraseSet | None,
                  shared_tag: str) -> tuple[dict[str, PhraseSet], str]:
    """Each group's own phrase set (by group name) and the phrase tag of all sets.

    A group without lists of its own is not in the mapping: it scans with
    the ``[phrases]`` set. Each distinct set of files is loaded once.
    """
    p = config.phrases
    shared_key = _phrase_key(GroupConfig(phrase_dir=p.dir, phrase_banned=p.banned,
                                         phrase_weighted=p.weighted,
                                         phrase_exception=p.exception))
    loaded: dict[tuple[Any, ...], tuple[PhraseSet, str]] = {}
    if shared is not None:
        loaded[shared_key] = (shared, shared_tag)
    by_group: dict[str, PhraseSet] = {}
    for group in config.groups:
        if not group.own_phrases:
            continue
        key = _phrase_key(group)
        if key not in loaded:
            loaded[key] = load_group_phrases(config, group)
            log.info('group "%s": its own phrase lists', group.name)
        by_group[group.name] = loaded[key][0]
    tags = sorted({tag for key, (_set, tag) in loaded.items() if key != shared_key})
    return by_group, "+".join([shared_tag, *tags]) if tags else shared_tag


def known_categories(store: Any, phrase_sets: Iterable[PhraseSet]) -> KnownCategories | None:
    """What the active list generation defines, or None when the store cannot
    say (nothing loaded, or Redis down: on_error then applies to requests)."""
    try:
        info = store.info()
    except Exception as exc:  # noqa: BLE001 - a store down must not stop the start
        log.warning("category names not checked: the list store did not answer (%s)", exc)
        return None
    if info is None:
        log.warning("category names not checked: no list generation is active")
        return None
    names = frozenset({*(c.name for c in info.categories.values()),
                       *(r.category for r in getattr(info, "rules", ()))})  # regex, blanket
    missing = [s for s in info.sources if not Path(s).exists()]
    if missing:
        log.warning("list sources not on this machine (%s): UT1 aliases (symbolic links) "
                    "cannot be resolved here", ", ".join(missing[:3]))
    return KnownCategories(names, category_aliases(info.sources),
                           phrase_categories(phrase_sets), complete=not missing)


def policy_groups(config: Config, store: Any, has_lists: bool, shared: PhraseSet | None,
                  shared_tag: str) -> tuple[PageScanner | None, GroupMap, str]:
    """The phrase scanner (None: no group scans), the checked groups and the
    phrase tag, for app.build_policy."""
    own, tag = group_phrases(config, shared, shared_tag)
    scanner = None
    if shared is not None or own:
        scanner = PageScanner(shared if shared is not None else PhraseSet((), ()),
                              config.phrases.scan_settings(), by_group=own,
                              shared=shared is not None)
    sets = [*([shared] if shared is not None else []), *own.values()]
    known = known_categories(store, sets) if has_lists else None
    return scanner, group_map(config, known, has_lists), tag


def group_map(config: Config, known: KnownCategories | None,
              has_lists: bool = True) -> GroupMap:
    """The groups with their category aliases and the user file, checked."""
    aliases: Mapping[str, str] = {}
    if known is not None:
        problems = category_problems(config.groups, known)
        if problems and known.complete:
            raise GroupSetupError("\n".join(f"{config.source}: {p}" for p in problems))
        for problem in problems:
            log.warning("%s: %s", config.source, problem)
        aliases = known.aliases
    elif not has_lists and any(n != "*" for g in config.groups for n in (*g.block, *g.allow)):
        log.warning("%s: no URL lists are loaded: the groups' block and allow names "
                    "match nothing", config.source)
    users: Mapping[str, str] = {}
    if config.users.groups_file:
        try:
            users = read_group_file(config.users.groups_file, [g.name for g in config.groups])
        except GroupFileError as exc:
            raise GroupSetupError(f"{config.source}: [users] groups_file:\n{exc}") from None
        log.info("user-to-group file %s: %d users", config.users.groups_file, len(users))
    groups = GroupMap(config.groups, aliases=aliases, file_users=users,
                      trust_header=config.users.group_header)
    if groups.named("default") is None and len(config.groups) > 1:
        log.warning('%s: no group is named "default": clients no rule places get "%s", '
                    "the first group without clients or users in groups_file",
                    config.source, groups.default.name)
    return groups
