"""Where a running server leaves its pid file and its workers' status files.

The server and the commands that talk to it (``reload``, ``lists status``)
must agree on the place without being told, or ``icapfilter reload --config
FILE`` fails with the default configuration. Candidates, first usable wins:

1. ``$RUNTIME_DIRECTORY`` (systemd's ``RuntimeDirectory=``),
2. ``/run/icapfilter``, ``/var/run/icapfilter`` (made when the parent is
   writable, i.e. for root),
3. ``$XDG_RUNTIME_DIR/icapfilter`` (a user's login session),
4. ``<temp dir>/icapfilter-<uid>``, private to the user (0700).

The server writes into the first it can write; a command reads the first
that holds the pid file. The file is named by the listen port
(``icapfilter-1344.pid``) so that servers on other ports of the same machine
keep apart; ``[server] pid_file`` overrides all of this.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ..config import Config, parse_listen


def candidate_dirs() -> list[Path]:
    """The run folders in the order they are tried (no duplicates)."""
    found: list[Path] = []
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        found.append(Path(runtime))
    found += [Path("/run/icapfilter"), Path("/var/run/icapfilter")]
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg:
        found.append(Path(xdg) / "icapfilter")
    found.append(Path(tempfile.gettempdir()) / f"icapfilter-{os.geteuid()}")
    unique: list[Path] = []
    seen: set[str] = set()
    for folder in found:
        key = os.path.realpath(folder)
        if key not in seen:
            seen.add(key)
            unique.append(folder)
    return unique


def pid_file_name(config: Config) -> str:
    _host, port = parse_listen(config.server.listen)
    return f"icapfilter-{port}.pid"


def _root_owned(folder: Path) -> bool:
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and not st.st_mode & 0o022


def _trusted(folder: Path) -> bool:
    """A real folder others cannot write into, owned by this user or root, or
    handed to its owner by root (systemd's RuntimeDirectory= in /run belongs
    to the service's user, and root runs ``icapfilter reload`` too)."""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & 0o022:
        return False
    return st.st_uid in (os.geteuid(), 0) or _root_owned(folder.parent)


def _writable_dir(folder: Path, private: bool) -> bool:
    if not folder.exists():
        if not os.access(folder.parent, os.W_OK | os.X_OK):
            return False
        try:
            folder.mkdir(mode=0o700 if private else 0o755)
        except OSError:
            return False
    return _trusted(folder) and os.access(folder, os.W_OK | os.X_OK)


def server_pid_file(config: Config) -> Path:
    """Where the starting server writes its pid (its folder made if needed)."""
    if config.server.pid_file:
        return Path(config.server.pid_file)
    dirs = candidate_dirs()
    for folder in dirs:
        if _writable_dir(folder, private=folder == dirs[-1]):
            return folder / pid_file_name(config)
    raise OSError(f"no writable run folder for the pid file (tried {', '.join(map(str, dirs))}): "
                  "set [server] pid_file")


def find_pid_file(config: Config) -> Path | None:
    """The pid file of the server ``config`` describes, if one is there."""
    if config.server.pid_file:
        path = Path(config.server.pid_file)
        return path if path.exists() else None
    for folder in candidate_dirs():
        path = folder / pid_file_name(config)
        if path.is_file() and _trusted(folder):
            return path
    return _started_with(config)


def _started_with(config: Config) -> Path | None:
    """The pid file of a server started with this configuration file on another
    port (``serve --listen`` overrides the file): its workers' status files say."""
    from .status import read_all

    if config.source == "<defaults>":
        return None
    wanted = os.path.abspath(config.source)
    for folder in candidate_dirs():
        if not _trusted(folder):
            continue
        for path in sorted(folder.glob("icapfilter-*.pid")):
            workers = read_all(status_dir(path))
            if any(w.config == wanted for w in workers.values()):
                return path
    return None


def where_pid_files_go(config: Config) -> str:
    """For messages: the places a pid file was looked for."""
    if config.server.pid_file:
        return config.server.pid_file
    return " or ".join(str(folder / pid_file_name(config)) for folder in candidate_dirs())


def status_dir(pid_file: Path) -> Path:
    """The workers' status files live beside the pid file: ``NAME.status/``."""
    return pid_file.with_name(pid_file.stem + ".status")
