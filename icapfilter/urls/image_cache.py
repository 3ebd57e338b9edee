"""Where list images live, when one is stale, and building one safely.

An image is valid for a *content key*: a hash of the list files' bytes (the
files a load reads, ``.Include``d ones too), their names (categories come
from them) and the source code of the parser and this format, so an edited
list, a renamed folder or a new normalizer each force a rebuild. The file
name only says which sources it is for; the content key inside the header
says what it holds.

Building takes an exclusive ``flock`` on ``<name>.lock``: when two workers
reload, or twenty ``squid-helper`` children start together, one builds and
the others wait and map its result. The image is written to a temporary file
and renamed over the old one: a process mapping the old image keeps it
(the inode lives on until unmapped), the next one maps the new.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import xxhash

from icapfilter.listio import read_list_file
from icapfilter.urls.errors import LoadError
from icapfilter.urls.image import FORMAT_VERSION
from icapfilter.urls.listfiles import MAX_INCLUDE_DEPTH, classify, is_archive

log = logging.getLogger("icapfilter.lists")

CACHE_DIR_NAME = ".icapfilter-cache"
#: Seconds to wait for another process's build (1.8 M entries build in about 6 s).
LOCK_TIMEOUT = 300.0
# An include line as the parser sees one: the line stripped of the whitespace
# bytes.strip() removes, the target up to the last ">" (listfiles._INCLUDE).
_INCLUDE = re.compile(rb"^[ \t\v\f\r]*\.include<(.*)>[ \t\v\f\r]*$", re.IGNORECASE | re.MULTILINE)
_BOM = b"\xef\xbb\xbf"
_code_key: bytes | None = None


class CacheUnavailable(Exception):
    """No directory to keep an image in (the message lists what was tried)."""


def code_key() -> bytes:
    """Hash of the source of every module that decides what an entry becomes."""
    global _code_key
    if _code_key is None:
        from icapfilter import __version__

        here = Path(__file__).resolve().parent
        # the version too: an install without .py sources still rebuilds on upgrade
        digest = xxhash.xxh3_128(f"image format {FORMAT_VERSION} {__version__}".encode())
        for path in sorted([*here.glob("*.py"), here.parent / "listio.py"]):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        _code_key = digest.digest()
    return _code_key


class ContentKey:
    """The content key of a list of sources, and what it learned on the way."""

    def __init__(self, sources: Sequence[str | os.PathLike[str]]) -> None:
        self.sources = [str(s) for s in sources]
        self.files = 0
        self.bytes = 0
        self.lines = 0  # of plain files: the progress total (archives are not counted)
        self._digest = xxhash.xxh3_128(code_key())
        for source in self.sources:
            self._source(Path(source))
        self.key = self._digest.digest()

    @property
    def hex(self) -> str:
        return self.key.hex()

    def summary(self) -> dict[str, Any]:
        return {"key": self.hex, "files": self.files, "bytes": self.bytes, "lines": self.lines}

    def _add(self, label: str, data: bytes, count_lines: bool) -> None:
        self.files += 1
        self.bytes += len(data)
        if count_lines:
            self.lines += data.count(b"\n")
        self._digest.update(f"{label}\0{len(data)}\0".encode("utf-8", "surrogateescape"))
        self._digest.update(data)

    def _read(self, path: Path) -> bytes:
        try:
            return read_list_file(path)
        except OSError as exc:
            raise LoadError(f"{path}: cannot read: {exc.strerror or exc}") from exc

    def _source(self, path: Path) -> None:
        if not path.exists():
            raise LoadError(f"{path}: no such file or directory")
        self._digest.update(f"source\0{path}\0".encode("utf-8", "surrogateescape"))
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for name in sorted(filenames):
                    if classify(name) is not None:
                        file = Path(dirpath, name)
                        self._file(file, str(file.relative_to(path)), (str(file.resolve()),))
        elif is_archive(path):
            self._add("archive", self._read(path), False)
        else:
            self._file(path, path.name, (str(path.resolve()),))

    def _file(self, path: Path, label: str, stack: tuple[str, ...]) -> None:
        data = self._read(path)
        self._add(label, data, True)
        if b"<" in data:
            self._includes(data, path.parent, stack)

    def _includes(self, data: bytes, base: Path, stack: tuple[str, ...]) -> None:
        """Follow ``.Include<file>`` as the parser does; a missing one counts as such."""
        for match in _INCLUDE.finditer(data[len(_BOM):] if data.startswith(_BOM) else data):
            target = match.group(1).decode("utf-8", "replace").strip()
            target = target.replace("__LISTDIR__", str(base))
            if "\0" in target or len(stack) >= MAX_INCLUDE_DEPTH:
                continue
            path = base / target
            resolved = str(path.resolve())
            if resolved in stack:
                continue
            try:
                included = read_list_file(path)
            except OSError as exc:
                self._digest.update(f"missing\0{path}\0{exc.errno}".encode())
                continue
            self._add(f"include {path}", included, True)
            if b"<" in included:
                self._includes(included, path.parent, (*stack, resolved))


def image_name(sources: Sequence[str | os.PathLike[str]]) -> str:
    """The file name of the image for these sources (where they are, not what they hold)."""
    where = "\n".join(str(Path(s).resolve()) for s in sources)
    return "lists-" + xxhash.xxh3_64_hexdigest(where.encode("utf-8", "surrogateescape"))


def _private(path: Path) -> bool:
    """The per-user folder under the temporary directory (shared with the helper
    launcher's sockets, so it stays 0700)."""
    return path.name == f"icapfilter-{os.getuid()}"


def _usable_dir(path: Path) -> bool:
    """Create ``path`` and check it is ours to write in. A new folder is 0755, so
    that processes of another user (Squid's helpers) can map the image too; the
    per-user temporary one is 0700."""
    try:
        path.mkdir(mode=0o700 if _private(path) else 0o755, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        return False
    if info.st_uid != os.getuid() and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False  # a directory others can write in could hand us a forged image
    return os.access(path, os.W_OK | os.X_OK)


def candidate_dirs(sources: Sequence[str | os.PathLike[str]], configured: str = "") -> list[Path]:
    """Where an image may live, in order of preference.

    Configured: only that one. Otherwise beside the lists (inside a list
    folder, or in the folder of a list file or archive), then the user's cache
    folder (systemd's `CacheDirectory=`, given as $CACHE_DIRECTORY, first:
    under the unit's private /tmp an image there would be built again at
    every start), then a private folder under the temporary directory: a
    server running as an unprivileged user with lists it cannot write beside
    still gets an image.
    """
    if configured:
        return [Path(configured)]
    found: list[Path] = []
    if sources:
        first = Path(sources[0])
        found.append((first if first.is_dir() else first.parent) / CACHE_DIR_NAME)
    systemd = os.environ.get("CACHE_DIRECTORY", "").split(":")[0]
    if systemd:
        found.append(Path(systemd))
    xdg = os.environ.get("XDG_CACHE_HOME")
    home = os.environ.get("HOME")
    if xdg:
        found.append(Path(xdg) / "icapfilter")
    elif home and home != "/":
        found.append(Path(home) / ".cache" / "icapfilter")
    found.append(Path(tempfile.gettempdir()) / f"icapfilter-{os.getuid()}")
    return found


def trusted_dir(path: Path, any_owner: bool = False) -> bool:
    """A folder whose images may be mapped without writing there: nobody but its
    owner can write in it, and the owner is root, this user, or (``any_owner``:
    the folder the configuration names) whoever the admin let own it."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and (any_owner or info.st_uid in (0, os.getuid()))
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def cache_dir(sources: Sequence[str | os.PathLike[str]], configured: str = "") -> Path:
    """The first usable candidate folder; CacheUnavailable when none is."""
    tried = candidate_dirs(sources, configured)
    for path in tried:
        if _usable_dir(path):
            return path
    raise CacheUnavailable("no writable folder for the list image (tried "
                           + ", ".join(map(str, tried)) + ")")


@contextmanager
def build_lock(folder: Path, name: str, timeout: float | None = None) -> Iterator[None]:
    """Exclusive among processes building ``name``; says so in the log when it waits.

    TimeoutError (an OSError: the callers then load the lists without an image)
    after ``timeout`` seconds (default LOCK_TIMEOUT): a holder that hangs (a
    ``lists load`` stopped in a terminal) must not keep a server from starting or
    every helper from answering.
    """
    fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _give_to_folder_owner(fd, folder)
        timeout = LOCK_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if not waited:
                log.info("lists: another process is building the list image %s; waiting",
                         folder / name)
                waited = True
            if time.monotonic() > deadline:
                raise TimeoutError(f"{folder / name}.lock: another process has held the "
                                   f"list image's build lock for over {timeout:.0f}s")
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def _give_to_folder_owner(fd: int, folder: Path) -> None:
    """Root building in a folder of the server's user (``icapfilter lists load``
    from a package script or cron) leaves the lock to that user: a lock file only
    root can open would keep the server from ever building there again."""
    if os.geteuid() != 0:
        return
    owner = folder.stat()
    if owner.st_uid != 0 and os.fstat(fd).st_uid == 0:
        os.fchown(fd, owner.st_uid, owner.st_gid)


def remove_stale_temporaries(folder: Path, name: str) -> None:
    """Left by a build that died (held under the build lock: nobody else writes them)."""
    for path in folder.glob(f"{name}.img.tmp*"):
        try:
            path.unlink()
        except OSError:
            pass
