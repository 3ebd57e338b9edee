"""The systemd unit and logrotate file, filled in for this installation."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from ..config import Config

#: What the unit lets the service write (ProtectSystem=strict makes the rest read-only).
WRITABLE = ("/run/icapfilter", "/var/lib/icapfilter", "/var/log/icapfilter")


def _template(name: str) -> str:
    return files(__package__).joinpath(name).read_text("utf-8")


#: A unit name both systemd and logrotate's postrotate shell take as one word.
UNIT_NAME = re.compile(r"[A-Za-z0-9:_.@-]+\.service")


def exec_word(value: str) -> str:
    """``value`` as one word of an ``Exec*=`` line (systemd.service(5), "Command
    lines"): ``%`` and ``$`` doubled (else a specifier, a variable), quoted when it
    holds a space, a quote or a backslash; a control character would end the
    line, so it is refused."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"{value!r} holds a control character: it cannot go into a unit file")
    value = value.replace("%", "%%").replace("$", "$$")
    if any(ch.isspace() or ch in "\"'\\" for ch in value):
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def unit_text(binary: str, config: str) -> str:
    return (_template("icapfilter.service.in").replace("@BIN@", exec_word(binary))
            .replace("@CONFIG@", exec_word(config)))


def logrotate_text(unit: str) -> str:
    if not UNIT_NAME.fullmatch(unit):
        raise ValueError(f"unit name {unit!r}: letters, digits and :_.@- only, "
                         "ending in .service")
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
