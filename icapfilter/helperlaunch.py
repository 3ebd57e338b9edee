"""A ``squid-helper`` child as a small launcher in front of one shared, loaded process.

Squid starts every helper child with exec, so each would import icapfilter
and build its policy on its own: 20 children, 20 copies (about 20 MB each
without phrase lists). Instead each child is this launcher, which imports
only the standard library (about 5 MB): it hands its stdin, stdout and
stderr to a *helper zygote* (:mod:`icapfilter.helperzygote`, one per user
and configuration file, started by the first launcher), over a Unix socket
with SCM_RIGHTS. The zygote forks a child that answers Squid on those
descriptors; the child shares the zygote's policy and mapped list image
copy-on-write. The launcher then becomes ``cat`` reading the socket until
that child is done, so Squid sees its helper live exactly as long as the
answering process, for a few hundred KB.

Anything unusual (no ``--config``, ``--no-shared``, ``--help``, a zygote
that does not come up) returns None: the caller then runs the helper in
this process, as before.
"""

from __future__ import annotations

import _socket
import os
import stat
import sys
import time
import zlib

ZYGOTE_START_TIMEOUT = 300.0  # a 1.8 M-entry list image is built in about 10 s
MAX_SOCKET_PATH = 103  # bytes: sun_path holds 104 on the BSDs (with its NUL), 108 on Linux
_OPTIONS = {"--config": "config", "--redis": "redis"}
_FLAGS = {"--concurrency": True, "--no-concurrency": False}


def parse(argv: list[str]) -> dict[str, object] | None:
    """The helper's options, or None when the launcher should not handle them."""
    found: dict[str, object] = {"concurrency": None}
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        if name in _OPTIONS:
            if not eq:
                if not args:
                    return None
                value = args.pop(0)
            found[_OPTIONS[name]] = value
        elif arg in _FLAGS:
            found["concurrency"] = _FLAGS[arg]
        else:
            return None  # --no-shared, --help, or anything new: the full command decides
    if not found.get("config"):
        return None
    found["config"] = os.path.abspath(str(found["config"]))
    return found


def runtime_dir() -> str:
    """A folder only this user can use (the socket there accepts this user only)."""
    path = os.path.join(os.environ.get("TMPDIR") or "/tmp", f"icapfilter-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(f"{path} is not a private folder of this user")
    return path


def socket_path(options: dict[str, object]) -> str:
    """The zygote's socket; OSError when the path is too long for a Unix socket
    (a long TMPDIR), rather than a zygote that builds and then cannot listen."""
    key = f"{options['config']}\0{options.get('redis') or ''}".encode("utf-8", "surrogateescape")
    path = os.path.join(runtime_dir(), f"helper-{zlib.crc32(key):08x}.sock")
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise OSError(f"{path} is too long for a Unix socket")
    return path


def _connect(path: str) -> _socket.socket | None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def _start_zygote(path: str, options: dict[str, object]) -> None:
    """Double fork and exec the zygote, detached from Squid's process group."""
    argv = [sys.executable, "-m", "icapfilter.helperzygote", "--socket", path,
            "--config", str(options["config"])]
    if options.get("redis"):
        argv += ["--redis", str(options["redis"])]
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):  # holding a launcher's pipes would keep them open
                    os.dup2(null, fd)
                os.execv(sys.executable, argv)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _died(pid_file: str, since: float) -> bool:
    """A zygote started since ``since`` wrote its pid and is gone (killed while
    building, say): waiting longer would only keep Squid waiting."""
    try:
        if os.stat(pid_file).st_mtime < since - 1:
            return False
        with open(pid_file) as handle:
            os.kill(int(handle.read()), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return False


def connect(options: dict[str, object], timeout: float = ZYGOTE_START_TIMEOUT,
            ) -> _socket.socket | None:
    """A connection to the zygote of these options, starting it when none answers."""
    path = socket_path(options)
    sock = _connect(path)
    if sock is not None:
        return sock
    started = time.time()
    _start_zygote(path, options)
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        try:
            if os.stat(path + ".failed").st_mtime >= started - 1:
                return None  # it could not build the policy: this process says why
        except OSError:
            pass
        if _died(path + ".pid", started):
            return None
        time.sleep(delay)
        delay = min(0.5, delay * 1.5)
    return None


def run(argv: list[str]) -> int | None:
    """Serve Squid through the zygote; None when this process must serve itself."""
    options = parse(argv)
    if options is None or os.environ.get("ICAPFILTER_HELPER_SHARED") == "0":
        return None
    try:
        sock = connect(options)
    except OSError:
        return None
    if sock is None:
        return None
    try:
        return _serve_through(sock, options)
    finally:
        sock.close()


def _serve_through(sock: _socket.socket, options: dict[str, object]) -> int | None:
    request = repr(sorted(options.items())).encode()
    try:
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
        sock.sendmsg([request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        answer = sock.recv(64)  # b"ok" once a child took the descriptors
    except OSError:
        return None
    if not answer.startswith(b"ok"):
        return None
    # The child answers Squid now. This process only has to live as long as it
    # does: /bin/cat reading the socket until the child's end closes does that
    # in a few hundred KB instead of a Python interpreter's 5 MB.
    os.dup2(sock.fileno(), 0)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    for cat in ("/bin/cat", "/usr/bin/cat"):
        try:
            os.execv(cat, [cat])
        except OSError:
            continue
    while True:  # until the child is done: its end of the socket closes
        try:
            if not sock.recv(64):
                return 0
        except InterruptedError:
            continue
        except OSError:
            return 0
