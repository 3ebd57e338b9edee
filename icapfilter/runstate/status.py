"""Each worker's status file: what it has loaded and how its last reload went.

A worker rewrites ``<status dir>/worker-<pid>.json`` at start and after every
reload, and removes it when it stops. ``icapfilter reload`` reads them to wait
for every worker's outcome; ``lists status`` reads them to say what an
in-process store holds. Files are replaced atomically (write, then rename),
so a reader sees the old or the new content, never half of it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class WorkerStatus:
    pid: int
    started: float
    config: str
    reloads: int = 0
    ok: bool = True
    error: str = ""
    at: float = field(default_factory=time.time)
    # what is in force: startup_summary.Loaded as a dict
    loaded: dict[str, Any] = field(default_factory=dict)
    # keys changed in the file that the running server cannot apply
    restart: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerStatus:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def _file(folder: Path, pid: int) -> Path:
    return folder / f"worker-{pid}.json"


def prepare(folder: Path) -> None:
    """Make the status folder (beside the pid file, so in a folder we may write)
    and remove the files of workers no longer running (a server that was killed):
    a later process given one of their pids would pass for a worker."""
    folder.mkdir(mode=0o755, exist_ok=True)
    for path in folder.glob("worker-*.json"):
        pid = path.stem.removeprefix("worker-")
        if pid.isascii() and pid.isdigit() and not alive(int(pid)):
            remove(folder, int(pid))


def write(folder: Path, status: WorkerStatus) -> None:
    data = json.dumps(asdict(status), ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=".worker-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, _file(folder, status.pid))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def remove(folder: Path, pid: int) -> None:
    try:
        _file(folder, pid).unlink()
    except OSError:
        pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_all(folder: Path) -> dict[int, WorkerStatus]:
    """The status of every live worker, by pid (files of dead ones are skipped)."""
    found: dict[int, WorkerStatus] = {}
    try:
        names = sorted(p for p in folder.iterdir() if p.name.startswith("worker-"))
    except OSError:
        return found
    for path in names:
        try:
            status = WorkerStatus.from_dict(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if alive(status.pid):
            found[status.pid] = status
    return found


def other_server(pid_file: Path, folder: Path) -> int | None:
    """The pid of another server still running with ``pid_file`` (status files
    in ``folder``): its pid is alive and so is one of its workers, which a
    stale pid file whose pid went to an unrelated process does not have."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid == os.getpid() or not alive(pid):
        return None
    return pid if read_all(folder) else None
