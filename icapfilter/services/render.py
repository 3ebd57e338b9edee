"""The systemd unit and logrotate file, filled in for this installation."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..config import Config

#: What the unit lets the service write (ProtectSystem=strict makes the rest read-only).
WRITABLE = ("/run/icapfilter", "/var/lib/icapfilter", "/var/log/icapfilter")


def _template(name: str) -> str:
    return files(__package__).joinpath(name).read_text("utf-8")


def unit_text(binary: str, config: str) -> str:
    return _template("icapfilter.service.in").replace("@BIN@", binary).replace("@CONFIG@", config)


def logrotate_text(unit: str) -> str:
    return _template("icapfilter.logrotate.in").replace("@UNIT@", unit)


def outside_writable(config: Config) -> list[str]:
    """``[section] key: path`` of each file the configuration writes where the
    unit forbids it."""
    wanted = {
        "[log] access": "" if config.log.access == "-" else config.log.access,
        "[log] error": config.log.error,
        "[server] pid_file": config.server.pid_file,
        "[stats] dir": config.stats.dir,
    }
    found = []
    for key, value in wanted.items():
        if not value:
            continue
        path = Path(value).absolute()
        if not any(path == Path(w) or Path(w) in path.parents for w in WRITABLE):
            found.append(f"{key}: {value}")
    return found
