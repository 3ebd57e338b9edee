"""Reading the TOML file into the typed `Config`, strictly."""

from __future__ import annotations

import difflib
import tomllib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .checks import ConfigError
from .groups import GroupConfig, UsersConfig
from .output import BlockPageConfig, LogConfig, StatsConfig
from .sections import (
    LearnedConfig,
    ListsConfig,
    PhrasesConfig,
    RateLimitConfig,
    ServerConfig,
    StoreConfig,
)


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    lists: ListsConfig = field(default_factory=ListsConfig)
    phrases: PhrasesConfig = field(default_factory=PhrasesConfig)
    blockpage: BlockPageConfig = field(default_factory=BlockPageConfig)
    log: LogConfig = field(default_factory=LogConfig)
    learned: LearnedConfig = field(default_factory=LearnedConfig)
    ratelimit: RateLimitConfig = field(default_factory=RateLimitConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    groups: list[GroupConfig] = field(default_factory=lambda: [GroupConfig()])
    users: UsersConfig = field(default_factory=UsersConfig)  # group membership
    source: str = "<defaults>"

    def with_overrides(self, **sections: dict[str, Any]) -> Config:
        """Apply command-line overrides (``server={"listen": ...}``), validated like the file."""
        result = self
        for section, values in sections.items():
            values = {k: v for k, v in values.items() if v is not None}
            if not values:
                continue
            current = getattr(result, section)
            updated = replace(current, **values)
            _checked(updated, f"command line: [{section}]")
            result = replace(result, **{section: updated})
        return result


_SECTIONS = {
    "server": ServerConfig,
    "store": StoreConfig,
    "lists": ListsConfig,
    "phrases": PhrasesConfig,
    "blockpage": BlockPageConfig,
    "log": LogConfig,
    "learned": LearnedConfig,
    "ratelimit": RateLimitConfig,
    "stats": StatsConfig,
    "users": UsersConfig,
}


def _suggest(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a near miss, else the names allowed there."""
    close = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(sorted(known))})"


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arm) for arm in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is dict:  # a table (e.g. [[groups.schedule]]); its own check reads it
        return isinstance(value, dict)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _build(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}{_suggest(key, known)}")
        if not _type_ok(value, hints[key]):
            raise ConfigError(f"{where} {key}: expected {_type_name(hints[key])}, "
                              f"got {type(value).__name__} {value!r}")
        values[key] = value
    return _checked(cls(**values), where)


def _checked(value: Any, where: str) -> Any:
    try:
        value.check()
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return value


def parse_config(text: str, source: str = "<string>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    sections: dict[str, Any] = {}
    for name, table in data.items():
        if name == "groups":
            if not isinstance(table, list) or not table:
                raise ConfigError(f"{source}: [[groups]] must be a non-empty array of tables")
            groups = [_build(GroupConfig, g, f"{source}: [[groups]] #{i + 1}")
                      for i, g in enumerate(table)]
            names = [g.name for g in groups]
            if len(set(names)) != len(names):
                raise ConfigError(f"{source}: [[groups]] names must be unique")
            sections["groups"] = groups
        elif name in _SECTIONS:
            sections[name] = _build(_SECTIONS[name], table, f"{source}: [{name}]")
        else:
            raise ConfigError(f"{source}: unknown section [{name}]"
                              f"{_suggest(name, [*_SECTIONS, 'groups'])}")
    config = Config(**sections, source=source)
    _check_full_groups(config)
    return config


def _check_full_groups(config: Config) -> None:
    """A typo in ``full_groups`` would silently show staff the pupils' page."""
    names = [g.name for g in config.groups]
    for name in config.blockpage.full_groups:
        if name not in names:
            raise ConfigError(f"{config.source}: [blockpage] full_groups: no group {name!r}"
                              f"{_suggest(name, names)}")


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, str(path))
