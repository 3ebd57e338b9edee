"""Benchmark of the URL blacklist engine on a fresh redis-server.

Generates a UT1-layout list (85% domains, 15% URLs, ~70 categories) in a
temp dir, loads it into a throw-away redis-server and prints load time,
Redis memory per entry, lookups/s (1 and 4 threads, decision cache off) and
the false-positive count over random unlisted hosts.

    python bench/blacklist_bench.py                 # 1,800,000 entries
    python bench/blacklist_bench.py --entries 100000 --fp-hosts 200000
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from icapfilter.redisstore.single import RedisStore  # noqa: E402
from icapfilter.urls.engine import UrlEngine  # noqa: E402
from icapfilter.urls.hashing import key_hash  # noqa: E402
from icapfilter.urls.loader import build_table, load_lists  # noqa: E402
from icapfilter.urls.normalize import candidates  # noqa: E402
from icapfilter.urls.report import LoadReport  # noqa: E402
from tests.redisserver import RedisServer  # noqa: E402

TLDS = ["com", "net", "org", "de", "fr", "ru", "info", "biz", "co.uk", "com.br", "pl", "it", "nl"]
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _label(rng: random.Random) -> str:
    return "".join(rng.choices(ALPHABET, k=rng.randint(4, 14)))


def generate(root: Path, entries: int, categories: int, seed: int = 1,
             write: bool = True) -> list[str]:
    """Write the UT1 tree (unless ``write`` is false); returns a sample of listed URLs
    for the lookup benchmark."""
    rng = random.Random(seed)
    names = [f"cat{i:02d}" for i in range(categories)]
    weights = [1 / (i + 1) for i in range(categories)]  # a few big categories, a long tail
    files: dict[tuple[str, str], list[str]] = {}
    sample: list[str] = []
    for n in range(entries):
        host = f"{_label(rng)}.{rng.choice(TLDS)}"
        if rng.random() < 0.2:
            host = f"{_label(rng)}.{host}"
        cat = rng.choices(names, weights)[0]
        if rng.random() < 0.85:
            files.setdefault((cat, "domains"), []).append(host)
            if n % 97 == 0:
                sample.append(f"http://www.{host}/index.html")
        else:
            path = "/" + "/".join(_label(rng) for _ in range(rng.randint(1, 3)))
            files.setdefault((cat, "urls"), []).append(host + path)
            if n % 97 == 0:
                sample.append(f"http://{host}{path}/page?x=1")
    for (cat, kind), lines in files.items() if write else ():
        folder = root / "blacklists" / cat
        folder.mkdir(parents=True, exist_ok=True)
        (folder / kind).write_text("\n".join(lines) + "\n")
    return sample


def lookups_per_second(store: RedisStore, urls: list[str], threads: int, seconds: float) -> float:
    stop = threading.Event()
    counts = [0] * threads

    def run(i: int) -> None:
        engine = UrlEngine(store, cache_size=0)
        n = 0
        while not stop.is_set():
            engine.lookup(urls[(n * threads + i) % len(urls)])
            n += 1
        counts[i] = n

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts) / seconds


def false_positives(table: dict[int, object], hosts: int, seed: int = 2) -> int:
    """Random hosts under a TLD the generator never uses: every hit is a hash collision."""
    rng = random.Random(seed)
    hits = 0
    for _ in range(hosts):
        url = f"http://{_label(rng)}.{_label(rng)}.unlisted/{_label(rng)}"
        if any(key_hash(k) in table for k in candidates(url)):
            hits += 1
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_800_000)
    parser.add_argument("--categories", type=int, default=70)
    parser.add_argument("--fp-hosts", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="per lookup benchmark")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="blbench-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        sample = generate(root, args.entries, args.categories)
        print(f"generated {args.entries} entries in {time.monotonic() - started:.1f}s")

        with RedisServer(root / "redis") as server:
            client = server.client()
            base_memory = int(client.info("memory")["used_memory"])
            store = RedisStore(client)
            report = load_lists(store, [root / "blacklists"])
            used = int(client.info("memory")["used_memory"]) - base_memory
            keys = client.dbsize()
            print(
                f"load: {report.duration:.1f}s, {report.entries} entries "
                f"({report.unique_keys} distinct), {len(report.counts)} categories, "
                f"{report.errors} bad lines"
            )
            print(
                f"redis: {used / 1e6:.1f} MB used_memory, {used / report.unique_keys:.1f} "
                f"bytes/entry, {keys} keys"
            )
            rng = random.Random(3)
            unlisted = [f"http://{_label(rng)}.unlisted/x/y" for _ in range(len(sample))]
            mixed = [u for pair in zip(sample, unlisted, strict=True) for u in pair]
            for threads in (1, 4):
                rate = lookups_per_second(store, mixed, threads, args.seconds)
                print(
                    f"lookups/s ({threads} thread{'s' if threads > 1 else ''}, no cache): "
                    f"{rate:,.0f}"
                )
            engine = UrlEngine(store, cache_size=0)
            missed = sum(1 for u in sample[:2000] if not engine.lookup(u))
            print(f"listed sample: {missed} of {min(2000, len(sample))} not found (expect 0)")

        started = time.monotonic()
        table, _ = build_table([root / "blacklists"], LoadReport())
        fp = false_positives(table, args.fp_hosts)
        print(
            f"false positives: {fp} of {args.fp_hosts} random unlisted hosts "
            f"({time.monotonic() - started:.1f}s, same 64-bit keys as Redis)"
        )


if __name__ == "__main__":
    main()
