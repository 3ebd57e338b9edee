#!/usr/bin/env python3
"""Memory and start-up of the in-process list store: the mapped list image
against the per-worker dict (``[lists] image = false``). Prints Markdown;
asserts nothing.

    python bench/list_image_bench.py --entries 1800000
    python bench/list_image_bench.py --entries 200000 --helpers 5 --load 0   # quick

For each store: the first start of ``icapfilter serve --workers 2`` (the image
is built), the second start (nothing to build) timed to the first answered
OPTIONS, then the sum of PSS (/proc/PID/smaps_rollup: shared pages counted
once) of its three processes right after start, after a short REQMOD load and
after a RESPMOD load (phrase scanning), a SIGHUP reload, the PSS that
``--helpers`` squid-helper children add, and the engine's lookups/s with its
decision cache off. The stock e2guardian phrase lists are
configured too (/etc/e2guardian/lists, or the tests' Debian copy).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.blacklist_bench import _label, generate  # noqa: E402
from bench.icap_load import run_load  # noqa: E402
from bench.reqmod_bench import request_mix  # noqa: E402
from bench.serverbench import free_port  # noqa: E402
from tests.polling import wait_until  # noqa: E402

STOCK = Path("/etc/e2guardian/lists")


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"OPTIONS icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: x\r\n"
                      b"Encapsulated: null-body=0\r\n\r\n")
            return s.recv(12).startswith(b"ICAP/1.0 200")
    except OSError:
        return False


class Serve:
    """``icapfilter serve --workers 2``, timed from exec to the first OPTIONS answer."""

    def __init__(self, config: Path, workers: int) -> None:
        self.port = free_port()
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "icapfilter", "serve", "--config", str(config),
             "--listen", f"127.0.0.1:{self.port}", "--workers", str(workers)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not answers(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}")
            if time.monotonic() - started > 300:
                raise RuntimeError("serve did not answer within 300 s")
            time.sleep(0.02)
        self.listened = time.monotonic() - started
        wait_until(lambda: len(self.pids()) == workers + 1, timeout=30)

    def pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                             text=True).stdout.split()
        return [self.proc.pid, *map(int, out)]

    def pss_mb(self) -> float:
        return sum(pss_kb(p) for p in self.pids()) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def helpers_added_mb(config: Path, server: Serve, count: int, shared: bool,
                     tmp: Path) -> tuple[float, float]:
    """(PSS added per helper to everything, mean PSS of the helpers' own processes),
    after one lookup each. Shared: the launchers (then ``cat``), the zygote and
    its children; else the helper processes themselves."""
    before = server.pss_mb()
    env = {**os.environ, "TMPDIR": str(tmp), "ICAPFILTER_HELPER_IDLE": "2"}
    command = [sys.executable, "-m", "icapfilter", "squid-helper", "--config", str(config)]
    procs = [subprocess.Popen(command + ([] if shared else ["--no-shared"]), env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL) for _ in range(count)]
    try:
        for n, p in enumerate(procs):
            assert p.stdin and p.stdout
            p.stdin.write(f"{n} 127.0.0.1 - http://www.example.com/\n".encode())
            p.stdin.flush()
            p.stdout.readline()
        pids = [p.pid for p in procs]
        for pid_file in tmp.glob(f"icapfilter-{os.getuid()}/helper-*.pid"):
            zygote = int(pid_file.read_text())
            out = subprocess.run(["pgrep", "-P", str(zygote)], capture_output=True,
                                 text=True).stdout.split()
            pids += [zygote, *map(int, out)]
        own = sum(pss_kb(pid) for pid in pids) / 1024
        after = server.pss_mb() + own
    finally:
        for p in procs:
            assert p.stdin
            p.stdin.close()
            p.wait(timeout=30)
    return (after - before) / count, own / count


def respmod_messages() -> list[bytes]:
    """20 generated pages of about 55 KB, gzip, as bench/respmod_bench.py sends them."""
    import gzip

    from bench.icap_load import respmod_message
    from bench.phrase_bench import make_page, vocabulary

    rng = random.Random(42)
    words, weights = vocabulary(rng, [])
    pages = [make_page(rng, words, weights, []).encode() for _ in range(20)]
    return [respmod_message(f"http://www{i}.example.org/", gzip.compress(p, 6), "gzip")
            for i, p in enumerate(pages)]


def blocked(port: int, url: str) -> bool:
    import socket

    from bench.icap_load import reqmod_message

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(reqmod_message(url))
        return s.recv(12).startswith(b"ICAP/1.0 200")  # a block page; 204 lets it through


def reload_peak(server: Serve, root: Path, timeout: float = 300) -> tuple[float, float]:
    """(seconds until both workers block a newly listed host, peak PSS sum meanwhile)
    after adding one line to a list and sending SIGHUP."""
    target = next(root.rglob("domains"))
    original = target.read_bytes()
    target.write_bytes(original + b"reload-probe.example\n")
    try:
        started = time.monotonic()
        os.kill(server.proc.pid, signal.SIGHUP)
        peak = 0.0
        while time.monotonic() - started < timeout:
            peak = max(peak, server.pss_mb())
            if all(blocked(server.port, "http://reload-probe.example/") for _ in range(8)):
                return time.monotonic() - started, peak
            time.sleep(0.1)
        return float("nan"), peak
    finally:
        target.write_bytes(original)


def lookups_per_second(store: object, urls: list[str], seconds: float) -> float:
    from icapfilter.urls.engine import UrlEngine

    engine = UrlEngine(store, cache_size=0)  # type: ignore[arg-type]
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for url in urls[:1000]:
            engine.lookup(url)
        n += 1000
        urls = urls[1000:] + urls[:1000]
    return n / (time.perf_counter() - started)


def phrase_dir() -> Path:
    if (STOCK / "weightedphraselist").is_file():
        return STOCK
    from tests.e2g_lists import e2g_lists_dir

    return e2g_lists_dir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_800_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--helpers", type=int, default=20)
    parser.add_argument("--load", type=float, default=5, help="seconds of REQMOD load; 0: none")
    parser.add_argument("--lookup-seconds", type=float, default=3)
    parser.add_argument("--stores", default="image,dict")
    parser.add_argument("--reload", type=int, default=1, help="1: measure a SIGHUP reload")
    parser.add_argument("--respmod", type=float, default=5,
                        help="seconds of RESPMOD load (gzip pages, 10 clients); 0: none")
    parser.add_argument("--lists", type=Path, help="reuse a tree generated with these --entries")
    parser.add_argument("--helper-stores", default="image",
                        help="stores whose helpers are measured (a dict helper --no-shared "
                             "builds the whole list: 20 of them at 1.8 M entries need 5 GB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imgbench-") as tmp:
        root = Path(tmp) / "bl"
        started = time.monotonic()
        if args.lists:  # a tree generate() wrote before, with the same --entries
            root = args.lists
            listed = generate(Path(tmp) / "sample", args.entries, 70, write=False)
        else:
            listed = generate(root, args.entries, 70)
        print(f"{args.entries:,} generated UT1 entries ({time.monotonic() - started:.0f} s), "
              f"phrase lists {phrase_dir()}, {args.workers} workers\n")
        messages = request_mix([u.split("/")[2] for u in listed], 20_000)
        rows = []
        for store in args.stores.split(","):
            config = Path(tmp) / f"{store}.toml"
            config.write_text(
                f'[lists]\npaths = ["{root}"]\nimage = {str(store == "image").lower()}\n'
                f'cache_dir = "{Path(tmp) / "cache"}"\n[phrases]\ndir = "{phrase_dir()}"\n'
                '[[groups]]\nname = "default"\nblock = ["*"]\n')
            first = Serve(config, args.workers)
            first.stop()
            server = Serve(config, args.workers)
            try:
                time.sleep(1)
                at_start = server.pss_mb()
                loaded = scanned = None
                if args.load:
                    run_load(server.port, messages, 4, args.load)
                    loaded = server.pss_mb()
                if args.respmod:
                    run_load(server.port, respmod_messages(), 10, args.respmod)
                    scanned = server.pss_mb()
                reload = reload_peak(server, root) if args.reload else None
                helper = alone = None
                if args.helpers and store in args.helper_stores.split(","):
                    helper = helpers_added_mb(config, server, args.helpers, True, Path(tmp))
                    alone = helpers_added_mb(config, server, args.helpers, False, Path(tmp))
            finally:
                server.stop()
            rows.append((store, first.listened, server.listened, at_start, loaded, scanned,
                         reload, helper, alone))
        print(f"| store | first start: listening after s | second start: listening after s | "
              f"PSS sum after start MB | PSS sum after REQMOD load MB | PSS sum after RESPMOD "
              f"load MB | reload with one more line: s, peak PSS sum MB | PSS added per helper "
              f"MB, {args.helpers} shared (own) | PSS added per helper MB, {args.helpers} "
              f"--no-shared (own) |\n|---|---|---|---|---|---|---|---|---|")
        for store, first_s, second_s, at_start, loaded, scanned, reload, helper, alone in rows:
            load_text = f"{loaded:.0f}" if loaded is not None else "-"
            load_text += f" | {scanned:.0f}" if scanned is not None else " | -"
            reload_text = f"{reload[0]:.1f} s, {reload[1]:.0f}" if reload else "-"
            helper_text = f"{helper[0]:.1f} ({helper[1]:.1f})" if helper else "-"
            alone_text = f"{alone[0]:.1f} ({alone[1]:.1f})" if alone else "-"
            print(f"| {store} | {first_s:.1f} | {second_s:.1f} | {at_start:.0f} | {load_text} | "
                  f"{reload_text} | {helper_text} | {alone_text} |")
        build_costs(root, Path(tmp) / "built")
        lookup_rates(root, listed, args.lookup_seconds, Path(tmp) / "cache")


_BUILD = """
import resource, sys, time
from pathlib import Path
root, cache, what = sys.argv[1:4]
started = time.perf_counter()
if what == "image":
    from icapfilter.urls.image_store import open_image_store
    open_image_store([root], configured_dir=cache)
else:
    from icapfilter.urls.loader import load_lists
    from icapfilter.urls.memory_store import MemoryStore
    load_lists(MemoryStore(), [Path(root)])
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def build_costs(root: Path, cache: Path) -> None:
    """Each build alone in a fresh process: its time and its peak RSS."""
    print("\n| build, in a process of its own | time | peak RSS of the process |\n|---|---|---|")
    for what, label in (("image", "image: content key, parse, hash, partition, sort, write"),
                        ("dict", "dict: parse, hash, insert")):
        out = subprocess.run([sys.executable, "-c", _BUILD, str(root), str(cache), what],
                             capture_output=True, text=True, check=True, cwd=ROOT).stdout
        seconds, peak_kb = out.split()
        print(f"| {label} | {float(seconds):.1f} s | {int(peak_kb) / 1024:.0f} MB |")


def lookup_rates(root: Path, listed: list[str], seconds: float, cache: Path) -> None:
    from icapfilter.urls.image_store import open_image_store
    from icapfilter.urls.loader import load_lists
    from icapfilter.urls.memory_store import MemoryStore

    rng = random.Random(3)
    unlisted = [f"http://{_label(rng)}.unlisted/x/y" for _ in range(len(listed))]
    mixed = [u for pair in zip(listed, unlisted, strict=True) for u in pair]
    image_store, _, _ = open_image_store([str(root)], configured_dir=str(cache))
    dict_store = MemoryStore()
    load_lists(dict_store, [root])
    print("\n| engine lookups/s, decision cache off, 1 thread | dict | image |\n|---|---|---|")
    rates = []
    for _ in range(2):  # interleaved, twice
        rates.append((lookups_per_second(dict_store, mixed, seconds),
                      lookups_per_second(image_store, mixed, seconds)))
    for n, (d, i) in enumerate(rates, 1):
        print(f"| run {n} | {d:,.0f} | {i:,.0f} |")


if __name__ == "__main__":
    main()
