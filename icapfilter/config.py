"""All configuration, typed and validated in one place.

The file is TOML. Parsing is strict: an unknown section or key is an error
(a typo must not silently disable filtering, as a missing
``weightedphrasemode`` once did in e2guardian), and a wrong value names the
file, the key and what is allowed. Command-line options override the file
through :func:`dataclasses.replace` on the loaded value.
"""

from __future__ import annotations

import ipaddress
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .scan_settings import DEFAULT_LIMIT, DEFAULT_SCAN, FILTER_MODES, WEIGHTED_MODES, ScanSettings


class ConfigError(Exception):
    """A configuration file or value that cannot be used; the message says where and why."""


# Upper bounds that keep a typo from exhausting the machine at start: threads
# beyond these only wait for the GIL or for file descriptors.
MAX_WORKERS = 256
MAX_THREADS = 1024
MAX_CONNECTIONS = 100_000
MAX_SECONDS = 86400.0  # a timeout beyond a day is a typo (and inf or nan breaks sockets)
YEAR = 365 * 86400


def check_redis_url(url: str) -> None:
    """Raise ValueError saying what is wrong with a Redis URL (never echoing
    it: it may hold a password)."""
    from .redisstore import check_url

    check_url(url)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


@dataclass(frozen=True)
class ServerConfig:
    listen: str = "127.0.0.1:1344"
    workers: int = 1
    threads: int = 16
    max_connections: int = 500
    idle_timeout: float = 60.0
    read_timeout: float = 30.0
    head_timeout: float = 10.0
    # After message_timeout seconds a message must have arrived at min_body_rate
    # bytes per second on average, or it is cut (408). Lenient: a parked message
    # costs no thread, only a slot, and a slow origin behind Squid trickles too.
    message_timeout: float = 60.0
    min_body_rate: float = 256.0
    send_timeout: float = 60.0
    drain_timeout: float = 10.0
    allowed_clients: list[str] = field(default_factory=list)
    # Slots of max_connections (at most half) only allowed_clients (or loopback) may take.
    reserved_connections: int = 20
    preview: int = 4096
    options_ttl: int = 300
    hold_bytes: int = 57344
    # Squid 5.7 (bug 5187) closes the client connection after a REQMOD block
    # page whose end it reads together with the body: send the end this much later.
    block_end_delay_ms: int = 5
    max_head_bytes: int = 65536
    # Empty: Squid matches Transfer-Ignore against the URL the client chose.
    transfer_ignore: str = ""
    transfer_complete: str | None = None
    pid_file: str = ""

    def check(self) -> None:
        parse_listen(self.listen)
        _between("workers", self.workers, 1, MAX_WORKERS)
        _between("threads", self.threads, 1, MAX_THREADS)
        _between("max_connections", self.max_connections, 1, MAX_CONNECTIONS)
        _between("preview", self.preview, 0, 1 << 20)
        _between("hold_bytes", self.hold_bytes, 0, 16 << 20)
        _between("options_ttl", self.options_ttl, 0, 86400)
        _at_least("block_end_delay_ms", self.block_end_delay_ms, 0)
        if self.block_end_delay_ms > 1000:
            raise ValueError("block_end_delay_ms must be <= 1000")
        _between("max_head_bytes", self.max_head_bytes, 1024, 16 << 20)
        _at_least("min_body_rate", self.min_body_rate, 0)
        _at_least("reserved_connections", self.reserved_connections, 0)
        for name in ("idle_timeout", "read_timeout", "head_timeout", "message_timeout",
                     "send_timeout", "drain_timeout"):
            _seconds(name, getattr(self, name))
        for net in self.allowed_clients:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(f"allowed_clients: {exc}") from None


@dataclass(frozen=True)
class StoreConfig:
    redis: str = ""
    on_error: str = "block"
    decision_cache: int = 10000

    def check(self) -> None:
        _one_of("on_error", self.on_error, ("block", "allow"))
        if self.redis:
            try:
                check_redis_url(self.redis)
            except ValueError as exc:
                raise ValueError(f"redis: {exc}") from None
        _at_least("decision_cache", self.decision_cache, 0)


@dataclass(frozen=True)
class ListsConfig:
    paths: list[str] = field(default_factory=list)
    strict: bool = False

    def check(self) -> None:
        pass


@dataclass(frozen=True)
class PhrasesConfig:
    dir: str = ""
    banned: list[str] = field(default_factory=list)
    weighted: list[str] = field(default_factory=list)
    exception: list[str] = field(default_factory=list)
    filter_mode: str = DEFAULT_SCAN.filter_mode
    weighted_mode: str = DEFAULT_SCAN.weighted_mode
    e2guardian_exact: bool = DEFAULT_SCAN.e2guardian_exact
    max_scan_bytes: int = DEFAULT_SCAN.max_scan_bytes
    max_decoded_bytes: int = DEFAULT_SCAN.max_decoded_bytes
    scan_types: list[str] = field(default_factory=lambda: list(DEFAULT_SCAN.scan_types))

    def check(self) -> None:
        _one_of("filter_mode", self.filter_mode, FILTER_MODES)
        _one_of("weighted_mode", self.weighted_mode, WEIGHTED_MODES)
        _between("max_scan_bytes", self.max_scan_bytes, 1, 1 << 30)
        _between("max_decoded_bytes", self.max_decoded_bytes, 1, 1 << 30)

    @property
    def configured(self) -> bool:
        return bool(self.dir or self.banned or self.weighted or self.exception)

    def scan_settings(self) -> ScanSettings:
        """The scan options, as every scan (server and ``icapfilter scan``) takes them."""
        return ScanSettings(
            weighted_mode=self.weighted_mode, filter_mode=self.filter_mode,
            e2guardian_exact=self.e2guardian_exact, max_scan_bytes=self.max_scan_bytes,
            max_decoded_bytes=self.max_decoded_bytes, scan_types=tuple(self.scan_types))


@dataclass(frozen=True)
class GroupConfig:
    name: str = "default"
    clients: list[str] = field(default_factory=list)
    block: list[str] = field(default_factory=lambda: ["*"])
    allow: list[str] = field(default_factory=list)
    naughtiness_limit: int = DEFAULT_LIMIT
    scan: bool = True

    def check(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("name must be letters, digits, '-' or '_'")
        for client in self.clients:
            if client.startswith("user:"):
                if not client[5:]:
                    raise ValueError("clients: 'user:' needs a name")
                continue
            try:
                ipaddress.ip_network(client, strict=False)
            except ValueError:
                raise ValueError(
                    f"clients: {client!r} is neither an IP/CIDR nor 'user:NAME'") from None


@dataclass(frozen=True)
class LearnedConfig:
    ttl: int = 0
    max_entries: int = 100_000
    # Mark REQMOD answers for URLs already learned clean, so a Squid configured
    # with the matching ACL (squid.conf.example) skips RESPMOD for them.
    mark_requests: bool = False

    def check(self) -> None:
        _between("ttl", self.ttl, 0, YEAR)
        _at_least("max_entries", self.max_entries, 1)


@dataclass(frozen=True)
class RateLimitConfig:
    requests: int = 0
    window: int = 60
    per: str = "ip"

    def check(self) -> None:
        _at_least("requests", self.requests, 0)
        _between("window", self.window, 1, YEAR)
        _one_of("per", self.per, ("ip", "user"))


@dataclass(frozen=True)
class StatsConfig:
    dir: str = ""
    interval: float = 5.0
    prometheus: str = ""

    def check(self) -> None:
        _seconds("interval", self.interval, minimum=0.1, maximum=3600)
        if self.prometheus:
            parse_listen(self.prometheus)


@dataclass(frozen=True)
class BlockPageConfig:
    template: str = ""

    def check(self) -> None:
        if self.template and not Path(self.template).is_file():
            raise ValueError(f"template: no such file {self.template!r}")


@dataclass(frozen=True)
class LogConfig:
    access: str = ""
    format: str = "json"
    error: str = ""
    level: str = "info"
    syslog: bool = False

    def check(self) -> None:
        _one_of("format", self.format, ("json", "squid"))
        _one_of("level", self.level, ("debug", "info", "warning", "error"))


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
}


def _at_least(name: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _between(name: str, value: int, minimum: int, maximum: int) -> None:
    _at_least(name, value, minimum)
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")


def _seconds(name: str, value: float, minimum: float = 0.0,
             maximum: float = MAX_SECONDS) -> None:
    """A duration: finite, at most ``maximum``, and above 0 (or at least ``minimum``)."""
    low_ok = value >= minimum if minimum > 0 else value > 0
    if not (low_ok and value <= maximum):  # also false for nan
        low = f">= {minimum:g}" if minimum > 0 else "> 0"
        raise ValueError(f"{name} must be {low} and <= {maximum:g} seconds, got {value}")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arm) for arm in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
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
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
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
            raise ConfigError(f"{source}: unknown section [{name}] "
                              f"(known: {', '.join([*_SECTIONS, 'groups'])})")
    return Config(**sections, source=source)


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, str(path))
