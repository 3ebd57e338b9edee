"""The loaded process that ``squid-helper`` launchers hand Squid's pipes to.

One per user and configuration file (see :mod:`icapfilter.helperlaunch`):
it builds the helper policy once (the mapped list image, no phrase lists
unless learned mode needs them), then forks one child per launcher; the
child takes the launcher's stdin/stdout/stderr and answers Squid until end
of input. Children share the policy's pages copy-on-write (``gc.freeze``
keeps the collector from touching them) and the image's pages outright.

Before each fork the configuration file and the lists' content key are
checked: after an edit (and Squid's ``-k reconfigure`` restarting its
helpers) the next children get a policy built from the new files. With no
child left for ``ICAPFILTER_HELPER_IDLE`` seconds (default 30) it exits.
"""

from __future__ import annotations

import argparse
import ast
import fcntl
import gc
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

log = logging.getLogger("icapfilter.squidhelper")


class Zygote:
    def __init__(self, config_path: str, redis: str | None) -> None:
        self.config_path = config_path
        self.redis = redis
        self.children: set[int] = set()
        self.policy: Any = None
        self.config: Any = None
        self._signature: tuple[Any, ...] | None = None
        self._failed: tuple[Any, ...] | None = None  # of the last build that failed
        #: why the files changed but the policy did not: each child says so in
        #: cache.log (the zygote's own stderr is /dev/null)
        self.stale: str | None = None
        self._lists: list[str] = []
        self.inherited: list[int] = []  # the zygote's own descriptors: closed in children

    def signature(self, lists: list[str]) -> tuple[Any, ...]:
        """What a policy is built from: the config file and the lists' content key."""
        info = os.stat(self.config_path)
        parts: tuple[Any, ...] = (info.st_ino, info.st_size, info.st_mtime_ns)
        if lists:
            from icapfilter.urls.image_cache import ContentKey

            parts += (ContentKey(lists).key,)
        return parts

    def build(self) -> None:
        from icapfilter.app import build_policy, setup_logging
        from icapfilter.config import load_config
        from icapfilter.helperpolicy import HelperPolicy, helper_policy

        config = load_config(self.config_path).with_overrides(store={"redis": self.redis})
        lists = list(config.lists.paths) if not config.store.redis else []
        # Taken before building: lists edited meanwhile make the next launcher rebuild.
        signature = self.signature(lists)
        setup_logging(config)
        policy = helper_policy(config, build_policy)
        if isinstance(policy, HelperPolicy):
            # learned mode: a child would build its own copy of the phrase lists
            # at its first learned question; built here, the children share one
            policy.full()
        from icapfilter.squidhelper import answer

        # One answer here, so that what a first answer imports and caches is in
        # the shared pages, not built again in every child.
        answer(policy, b"0 127.0.0.1 - http://warm-up.invalid/")
        gc.unfreeze()
        self.policy = policy
        self.config = config
        self._lists = lists
        self._signature = signature
        self.stale = None
        gc.collect()
        gc.freeze()  # children's collections leave the policy's pages shared
        log.info("squid-helper zygote %d: policy built; serving launchers", os.getpid())

    def refresh(self) -> None:
        """Rebuild when the config file or the lists changed since the last build
        (reading the lists for their key: about 0.1 s for 1.8 M entries, once per
        child started). A build that failed is tried again only after another
        change: twenty launchers must not wait for twenty failing builds."""
        from icapfilter.urls.errors import LoadError

        try:
            current = self.signature(self._lists)
        except (OSError, LoadError):
            return  # a vanished file is the next build's error, not a reason to stop
        if current in (self._signature, self._failed):
            return
        log.info("squid-helper zygote: configuration or lists changed; rebuilding")
        try:
            self.build()
        except Exception as exc:  # noqa: BLE001 - keep serving the last good policy
            self._failed = current
            self.stale = f"the configuration or lists changed but cannot be loaded " \
                         f"({exc}); answering with those loaded before"
            log.error("squid-helper zygote: %s", self.stale)

    def reap(self) -> None:
        while self.children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)

    def handle(self, conn: socket.socket) -> None:
        if hasattr(socket, "SO_PEERCRED"):  # Linux; elsewhere the 0700 folder alone guards
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            if int.from_bytes(creds[4:8], sys.byteorder) != os.getuid():
                return
        conn.settimeout(10)
        message, fds, _, _ = socket.recv_fds(conn, 4096, 3)
        try:
            options = dict(ast.literal_eval(message.decode()))
            if len(fds) != 3 or options.get("config") != self.config_path:
                conn.sendall(b"no")
                return
            self.refresh()
            pid = os.fork()
            if pid == 0:
                self.child(conn, fds, options.get("concurrency"))
            self.children.add(pid)
        finally:
            for fd in fds:
                os.close(fd)

    def child(self, conn: socket.socket, fds: list[int], concurrency: bool | None) -> None:
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            for fd in self.inherited:
                os.close(fd)
            conn.sendall(b"ok")
            from icapfilter.helperpolicy import log_ready
            from icapfilter.squidhelper import serve

            log_ready(self.config, concurrency)
            if self.stale:
                log.error("squid-helper: %s", self.stale)
            answered = serve(self.policy, 0, 1, concurrency)
            log.info("squid-helper %d: end of input after %d lookups", os.getpid(), answered)
            code = 0
        except BrokenPipeError:
            code = 0
        except BaseException:  # noqa: BLE001 - a child must end here, never return to the loop
            log.exception("squid-helper %d failed", os.getpid())
        finally:
            os._exit(code)

    def serve(self, listener: socket.socket, idle: float) -> None:
        listener.settimeout(1.0)
        last_busy = time.monotonic()
        while True:
            self.reap()
            if self.children:
                last_busy = time.monotonic()
            elif time.monotonic() - last_busy > idle:
                log.info("squid-helper zygote %d: idle for %.0fs, exiting", os.getpid(), idle)
                return
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    self.handle(conn)
                except Exception:  # noqa: BLE001 - one bad launcher must not end the zygote
                    log.exception("squid-helper zygote: a launcher could not be served")
            last_busy = time.monotonic()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="icapfilter.helperzygote")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--redis")
    args = parser.parse_args(argv)
    lock = take_lock(args.socket)
    if lock is None:
        return 0  # another zygote of this configuration serves or is building
    with open(args.socket + ".pid", "w") as handle:  # launchers watch it while we build
        handle.write(f"{os.getpid()}\n")
    zygote = Zygote(args.config, args.redis)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        zygote.build()
        if os.path.exists(args.socket):
            os.unlink(args.socket)
        listener.bind(args.socket)
        listener.listen(64)
    except BaseException as exc:  # noqa: BLE001 - launchers fall back to serving themselves
        listener.close()
        with open(args.socket + ".failed", "w") as handle:
            handle.write(f"{exc}\n")
        os.unlink(args.socket + ".pid")
        return 1
    zygote.inherited += [lock, listener.fileno()]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        zygote.serve(listener, float(os.environ.get("ICAPFILTER_HELPER_IDLE", "30")))
    finally:
        # The path goes first: a launcher that finds no socket starts a zygote,
        # which waits for this one's lock (take_lock) instead of giving up.
        for path in (args.socket, args.socket + ".pid"):
            try:
                os.unlink(path)
            except OSError:
                pass
        listener.close()
    return 0


def take_lock(socket_path: str, wait: float = 5.0) -> int | None:
    """The lock of this socket's zygote, or None when another zygote holds it and
    serves (its socket exists) or keeps holding it for ``wait`` seconds (it builds;
    the launchers watch its pid file). A zygote that is exiting has removed its
    socket already: its lock is waited for, so the launcher that found no socket
    gets a zygote instead of waiting for one that will never listen."""
    lock = os.open(socket_path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except OSError:
            if os.path.exists(socket_path) or time.monotonic() > deadline:
                os.close(lock)
                return None
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
