"""A real, throw-away ``redis-server`` for tests and benchmarks.

Each instance runs on a free loopback port in its own temp dir with
persistence off (``--save '' --appendonly no``). An explicit ``SAVE`` still
writes ``dump.rdb`` there, and :meth:`RedisServer.start` after :meth:`kill`
reuses dir and port, so a test can simulate a crash and a restart.

Usage::

    from tests.redisserver import RedisServer, redis_server

    with redis_server() as server:
        client = server.client()

or as a pytest fixture::

    @pytest.fixture
    def redis_srv(tmp_path):
        with redis_server(tmp_path) as server:
            yield server
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REDIS_SERVER = os.environ.get(
    "REDIS_SERVER", shutil.which("redis-server") or "/usr/bin/redis-server"
)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_available() -> bool:
    return os.path.exists(REDIS_SERVER)


class RedisServer:
    """One redis-server process; ``url`` is valid once :meth:`start` returned."""

    def __init__(self, directory: str | os.PathLike[str] | None = None, port: int | None = None):
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="redis-test-"))
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start (or restart after kill) on the same port and dir; waits until it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_tail()}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {timeout}s: {self.log_tail()}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def client(self, **kwargs: Any) -> Any:
        """A redis-py client for this server (imported lazily: the helper has no hard dep)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown save."""
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its data but stops answering (a network partition)."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the process (data is not saved) and remove an owned temp dir."""
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, size: int = 2000) -> str:
        try:
            return (self.directory / "redis.log").read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def redis_server(directory: str | os.PathLike[str] | None = None) -> Iterator[RedisServer]:
    """Start a server for the duration of the block."""
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
