#!/usr/bin/env python3
"""REQMOD decisions per second through the ICAP server, Redis store and
in-process store side by side, with a generated blacklist and a skewed mix of
request hosts (10% listed). Prints a Markdown table; asserts nothing.

    python bench/reqmod_bench.py --entries 1800000 --seconds 20

"per server CPU-second" divides requests by the CPU time the server's
processes used, so it reads as decisions per second per core whatever else
the machine was doing (the load generator runs on the same two cores).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.blacklist_bench import generate  # noqa: E402
from bench.icap_load import reqmod_message  # noqa: E402
from bench.serverbench import Server, run_interleaved  # noqa: E402
from icapfilter.redisstore.single import RedisStore  # noqa: E402
from icapfilter.urls.loader import load_lists  # noqa: E402
from tests.redisserver import redis_server  # noqa: E402


def request_mix(listed: list[str], count: int, seed: int = 7) -> list[bytes]:
    """Zipf-skewed hosts, 10% of them listed entries, the rest clean."""
    rng = random.Random(seed)
    clean = [f"www.site{i}.example.org" for i in range(5000)]
    hosts = rng.sample(listed, min(500, len(listed)))
    urls = []
    weights = [1 / (i + 1) for i in range(len(clean))]
    for _ in range(count):
        if rng.random() < 0.10:
            entry = rng.choice(hosts)
            urls.append(f"http://{entry}/page{rng.randrange(50)}")
        else:
            host = rng.choices(clean, weights)[0]
            urls.append(f"http://{host}/a/b/{rng.randrange(1000)}?q={rng.randrange(10)}")
    return [reqmod_message(u) for u in urls]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--stores", default="redis,in-process,in-process dict",
                        help="of redis, in-process (the list image), in-process dict")
    parser.add_argument("--lists", type=Path, help="reuse a tree generated with these --entries")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp) / "redis") as redis:
        root = Path(tmp) / "bl"
        if args.lists:  # a tree generate() wrote before, with the same --entries
            root = args.lists
            listed = generate(Path(tmp) / "sample", args.entries, 70, write=False)
        else:
            listed = generate(root, args.entries, 70)
        if "redis" in args.stores.split(","):
            load_lists(RedisStore(redis.url), [root])
        messages = request_mix([u.split("/")[2] for u in listed], 20_000)
        configs = {
            "redis": f'[store]\nredis = "{redis.url}"\n',
            "in-process": f'[lists]\npaths = ["{root}"]\n',  # the mapped list image
            "in-process dict": f'[lists]\npaths = ["{root}"]\nimage = false\n',
        }
        configs = {k: v for k, v in configs.items() if k in args.stores.split(",")}
        servers = {}
        for name, text in configs.items():
            path = Path(tmp) / f"{name}.toml"
            path.write_text(text + '[[groups]]\nname = "default"\nblock = ["*"]\n')
            servers[name] = Server(path, args.workers)
        print(f"{args.entries} entries, {args.workers} workers, {args.clients} clients, "
              f"{args.seconds:.0f} s per run, runs interleaved\n")
        run_interleaved(servers, "REQMOD, {name} store, run {run}",
                        messages, args.clients, args.seconds, args.repeat)

if __name__ == "__main__":
    main()
