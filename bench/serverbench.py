"""Shared pieces of the ICAP server benchmarks: start `icapfilter serve`, measure
the CPU time its processes use, and drive it with bench/icap_load.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.icap_load import run_load  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Server:
    def __init__(self, config: Path, workers: int) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "icapfilter", "serve", "--config", str(config),
             "--listen", f"127.0.0.1:{self.port}", "--workers", str(workers)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read().decode())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(0.5)

    def pids(self) -> list[int]:
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        return [self.proc.pid, *map(int, children)]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def measure(server: Server, messages: list[bytes], clients: int, seconds: float) -> dict:
    pids = server.pids()
    before = cpu_seconds(pids)
    result = run_load(server.port, messages, clients, seconds)
    used = cpu_seconds(pids) - before
    result["server_cpu_s"] = used
    result["per_core"] = result["requests"] / used if used else 0.0
    result["peak_rss_mb"] = max(rss_kb(p) for p in pids) / 1024
    return result


def line(name: str, r: dict) -> str:
    return (f"| {name} | {r['rps']:.0f} | {r['per_core']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['errors']} | {r['statuses']} | {r['peak_rss_mb']:.0f} |")


HEADER = ("| scenario | req/s | req per server CPU-second | p50 ms | p99 ms | errors | "
          "ICAP statuses | peak RSS MB (one process) |\n|---|---|---|---|---|---|---|---|")


def run_interleaved(servers: dict[str, Server], label: str, messages: list[bytes],
                    clients: int, seconds: float, repeat: int) -> None:
    """Print one table row per server and run, scenario by scenario so drift hits all
    alike; stop every server at the end."""
    print(HEADER)
    try:
        for run in range(repeat):
            for name, server in servers.items():
                print(line(label.format(name=name, run=run + 1),
                           measure(server, messages, clients, seconds)), flush=True)
    finally:
        for server in servers.values():
            server.stop()
