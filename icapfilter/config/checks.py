"""Errors and value checks shared by every section of the configuration."""

from __future__ import annotations


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
    from ..redisstore import check_url

    check_url(url)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


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


