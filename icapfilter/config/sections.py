"""The serving, store, list and phrase sections, and the learned and rate-limit ones."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..scan_settings import DEFAULT_SCAN, FILTER_MODES, WEIGHTED_MODES, ScanSettings
from ..timerules import check_timezone
from .checks import (
    MAX_CONNECTIONS,
    MAX_THREADS,
    MAX_WORKERS,
    YEAR,
    _at_least,
    _between,
    _one_of,
    _seconds,
    check_redis_url,
    parse_listen,
)


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
    # schedules: the zone of [[groups.schedule]] and #time: rules ("" = the server's local time)
    timezone: str = ""

    def check(self) -> None:
        parse_listen(self.listen)
        if self.timezone:  # schedules
            check_timezone(self.timezone)
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
    # list image (issue 21): the in-process store maps a compiled image kept here
    image: bool = True
    cache_dir: str = ""

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
