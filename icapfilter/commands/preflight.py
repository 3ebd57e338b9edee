"""What can be found wrong with a configuration before the server starts.

Parsing (config.py) checks values; this checks them against the machine:
files the server will write, addresses it will listen on, file descriptors.
``config check`` runs :func:`problems` without side effects (nothing is
created or bound on a port a running server may hold); ``serve`` runs it
with ``starting=True``, which also opens the files and binds the ports the
way the server will a moment later, so that a refusal names the key instead
of ending a worker with a traceback.
"""

from __future__ import annotations

import errno
import os
import resource
import socket
from dataclasses import dataclass
from pathlib import Path

from icapfilter.config import Config, ConfigError, parse_listen
from icapfilter.stats import UnsafeStatsDir, check_private_dir, folder_of

# Descriptors a process needs besides one per connection and one per thread's
# work: listening sockets, logs, Redis connections, metrics connections, lists.
FD_RESERVE = 64
SYSLOG_SOCKETS = ("/var/run/log", "/dev/log")


CONFIG, REFUSED, WARNING = "config", "refused", "warning"


@dataclass(frozen=True)
class Problem:
    where: str  # "[section] key"
    message: str
    # CONFIG: the value cannot work here; REFUSED: the system said no (a port
    # in use); WARNING: reported by config check, does not stop serve.
    kind: str = CONFIG

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class CannotStart(OSError):
    """The machine refused what the configuration asks for (a port, a file)."""


def problems(config: Config, *, starting: bool = False) -> list[Problem]:
    """Everything found, in file order; empty when the server can start."""
    found: list[Problem] = []
    server = config.server
    found += _address("[server] listen", server.listen, starting, reuse_port=server.workers > 1)
    found += _writable_file("[server] pid_file", server.pid_file, starting)
    found += _descriptors(config, starting)
    found += _writable_file("[log] access", "" if config.log.access == "-" else config.log.access,
                            starting)
    found += _writable_file("[log] error", config.log.error, starting)
    if config.log.syslog and not any(Path(p).exists() for p in SYSLOG_SOCKETS):
        found.append(Problem("[log] syslog", f"no syslog socket ({' or '.join(SYSLOG_SOCKETS)})"))
    found += _stats_dir(config)  # the metric files live there with Redis too
    if config.stats.prometheus:
        found += _address("[stats] prometheus", config.stats.prometheus, starting)
    return found


def check_before_start(config: Config) -> None:
    """Raise for the first fatal problem: ConfigError for a value that cannot
    work here, CannotStart for what the system refused; both name the key."""
    source = "built-in defaults (no --config)" if config.source == "<defaults>" else config.source
    for problem in problems(config, starting=True):
        if problem.kind == REFUSED:
            raise CannotStart(f"{source}: {problem}")
        if problem.kind == CONFIG:
            raise ConfigError(f"{source}: {problem}")


def _address(where: str, value: str, starting: bool, reuse_port: bool = False) -> list[Problem]:
    """The host must be one of this machine's addresses; at start the port must be free.

    Without ``starting`` the trial bind takes any port (0): the configured one
    may be held by the very server whose configuration is being checked.
    """
    host, port = parse_listen(value)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            probe.bind((host, port if starting else 0))
    except socket.gaierror as exc:
        return [Problem(where, f"cannot resolve {host!r}: {exc.strerror}")]
    except OSError as exc:
        if not starting or exc.errno == errno.EADDRNOTAVAIL:
            return [Problem(where, f"{host} is not an address of this machine ({exc.strerror})")]
        return [Problem(where, f"cannot listen on {value}: {exc.strerror or exc}"
                               f"{_port_hint(exc.errno, where, port)}", REFUSED)]
    return []


def _port_hint(code: int | None, where: str, port: int) -> str:
    """What to do about a port the system refused."""
    if code == errno.EADDRINUSE:
        return (f" (another process holds it: `ss -ltnp 'sport = :{port}'` or "
                f"`sockstat -l -p {port}` names it; stop it or change {where})")
    if code == errno.EACCES:
        return f" (ports below 1024 need root or CAP_NET_BIND_SERVICE; change {where})"
    return f" (change {where})"


def _cannot_write(where: str, value: str, why: str) -> Problem:
    return Problem(where, f"cannot write {value}: {why} (give {where} a path this user may "
                          "write, or run as a user who may)")


def _writable_file(where: str, value: str, starting: bool) -> list[Problem]:
    """A file the server will open for writing (its folder is not created).

    At start it is opened as the server will open it; otherwise only looked
    at, so that ``config check`` run as another user creates nothing.
    """
    if not value:
        return []
    path = Path(value)
    if path.is_dir():
        return [Problem(where, f"{value} is a directory")]
    parent = path.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        return [_cannot_write(where, value, f"{parent} {what}")]
    if starting:
        try:
            with open(path, "a"):
                pass
        except OSError as exc:
            return [_cannot_write(where, value, str(exc.strerror or exc))]
        return []
    target = path if path.exists() else parent
    if not os.access(target, os.W_OK):
        return [_cannot_write(where, value, f"{target} is not writable by this user")]
    return []


def _stats_dir(config: Config) -> list[Problem]:
    folder = folder_of(config)
    where = "[stats] dir"
    if not os.path.lexists(folder):
        ancestor = folder.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not (ancestor.is_dir() and os.access(ancestor, os.W_OK)):
            return [Problem(where, f"cannot create {folder}: {ancestor} is not writable")]
        return []
    try:
        check_private_dir(folder)
    except (UnsafeStatsDir, OSError) as exc:
        if config.stats.dir:
            return [Problem(where, f"unsafe for snapshots: {exc}")]
        # Anyone can create the default folder in the temp dir: refusing to
        # start would hand every local user a way to stop the filter.
        return [Problem(where, f"default folder unsafe ({exc}): statistics snapshots "
                               "will be disabled; set [stats] dir", WARNING)]
    return []


def _descriptors(config: Config, starting: bool) -> list[Problem]:
    """One descriptor per connection plus threads and a reserve; at start the
    soft limit is raised towards the hard one when that is enough."""
    need = config.server.max_connections + config.server.threads + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or need <= soft:
        return []
    if hard == resource.RLIM_INFINITY or need <= hard:
        if starting:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        return []
    return [Problem("[server] max_connections",
                    f"{config.server.max_connections} connections need about {need} file "
                    f"descriptors; the limit is {hard} (ulimit -n)")]
