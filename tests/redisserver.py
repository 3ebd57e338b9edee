"""A real, throw-away ``redis-server`` for tests and benchmarks.

Each instance runs on a free loopback port in its own temp dir with
persistence off (``--save '' --appendonly no``). An explicit ``SAVE`` still
writes ``dump.rdb`` there, and :meth:`RedisServer.start` after :meth:`kill`
reuses dir and port, so a test can simulate a crash and a restart.

Usage::

    from tests.redisserver import RedisServer, redis_server

    with redis_server() as server:
        client = server.client()

a three-master Redis Cluster (``redis+cluster://`` URL for ClusterStore)::

    with redis_cluster() as cluster:
        store = ClusterStore(cluster.url)

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
REDIS_CLI = os.environ.get("REDIS_CLI", shutil.which("redis-cli") or "/usr/bin/redis-cli")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback TCP ports that were free a moment ago: the
    sockets are held open together, so the kernel cannot hand one out twice
    (a cluster node's bus port once came out equal to another node's port)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def redis_available() -> bool:
    return os.path.exists(REDIS_SERVER)


class RedisServer:
    """One redis-server process; ``url`` is valid once :meth:`start` returned."""

    def __init__(self, directory: str | os.PathLike[str] | None = None, port: int | None = None,
                 extra_args: tuple[str, ...] = ()):
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="redis-test-"))
        self.port = port or free_port()
        self.extra_args = extra_args
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
                *self.extra_args,
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


def _command(port: int, *words: str, timeout: float = 2.0) -> bytes:
    """One RESP command on a fresh socket; the raw reply (enough for INFO-like text)."""
    payload = f"*{len(words)}\r\n".encode() + b"".join(
        f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        data = b""
        while True:
            chunk = sock.recv(65536)
            data += chunk
            if not chunk or (data.endswith(b"\r\n") and _complete(data)):
                return data


def _complete(data: bytes) -> bool:
    if data[:1] != b"$":
        return True
    size = int(data[1:data.index(b"\r\n")])
    return size < 0 or len(data) >= data.index(b"\r\n") + 2 + size + 2


class RedisClusterServers:
    """Three masters, no replicas, on loopback, each a :class:`RedisServer` in cluster mode.

    :meth:`start` creates the cluster with ``redis-cli --cluster create`` and returns
    once every node reports ``cluster_state:ok`` with all 16,384 slots: before that
    a client may be told CLUSTERDOWN. Node timeout is short (2 s) so tests that stop
    a master see the cluster fail quickly.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None, masters: int = 3):
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="redis-cluster-test-"))
        ports = free_ports(2 * masters)
        self.nodes = [
            RedisServer(self.directory / f"node{i}", port=ports[2 * i], extra_args=(
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(self.directory / f"node{i}" / "nodes.conf"),
                "--cluster-node-timeout", "2000",
                # the bus port defaults to port + 10000, which a free port may exceed
                "--cluster-port", str(ports[2 * i + 1])))
            for i in range(masters)
        ]

    @property
    def url(self) -> str:
        """Every master as a startup node: the client needs one of them alive."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self, timeout: float = 30.0) -> RedisClusterServers:
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [REDIS_CLI, "--cluster", "create",
                 *(f"127.0.0.1:{n.port}" for n in self.nodes),
                 "--cluster-replicas", "0", "--cluster-yes"],
                check=True, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while not self.ready():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cluster not ok within {timeout}s")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def ready(self) -> bool:
        """Every node says the cluster is ok and knows every node and slot."""
        try:
            infos = [_command(n.port, "CLUSTER", "INFO") for n in self.nodes]
        except OSError:
            return False
        return all(b"cluster_state:ok" in info and b"cluster_slots_ok:16384" in info
                   and f"cluster_known_nodes:{len(self.nodes)}".encode() in info
                   for info in infos)

    def clients(self) -> list[Any]:
        """A plain client per master (to count keys, flush, inspect)."""
        return [n.client() for n in self.nodes]

    def flushall(self) -> None:
        for client in self.clients():
            client.flushall()
            client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisClusterServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cluster_available() -> bool:
    return redis_available() and os.path.exists(REDIS_CLI)


@contextmanager
def redis_cluster(directory: str | os.PathLike[str] | None = None) -> Iterator[RedisClusterServers]:
    """A three-master cluster for the duration of the block."""
    with RedisClusterServers(directory) as cluster:
        yield cluster
