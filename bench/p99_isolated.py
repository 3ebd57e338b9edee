#!/usr/bin/env python3
"""p99 latency added by icapfilter at a fixed rate, with one scenario alive at a time.

bench/compare keeps every scenario's processes up for the whole run (nine
Squids, the filters, their Redis servers) and its fixed-rate p99 of Squid
alone moved between 3 and 50 ms from run to run: a p99 rests on the ten
slowest of about a thousand requests, and whatever else the machine did in
those moments lands there. This script asks the same question with less in
the way: it starts Squid alone, times it, stops it, then starts Squid +
icapfilter (cold, Redis or in-process store), times it, stops it, and repeats
the pair; the same corpus, URL mix (≤60 KB bodies), lists and fixed-rate
client as bench/compare (``compare_lib``). Prints pooled p50/p99 with the
95% intervals of bench/compare's p99 goal. ``--also-url-only`` adds icapfilter
with RESPMOD off to each round, to split what REQMOD and the ICAP round trips
add from what body scanning adds.

    bench/compare --help >/dev/null   # once: installs squid, redis-server, wrk
    .venv/bin/python bench/p99_isolated.py --entries 1800000 --seconds 20 --repeat 3

Needs root (the origin listens on port 80), like bench/compare.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_lib import corpus as C  # noqa: E402
from compare_lib.__main__ import SMALL, STOCK_LISTS  # noqa: E402
from compare_lib.load import run_rate  # noqa: E402
from compare_lib.origin import start_origin  # noqa: E402
from compare_lib.peers import Icapfilter, IcapfilterUrlOnly, NoIcap  # noqa: E402
from compare_lib.summary import p99_interval  # noqa: E402


def pct(lat: list[float], q: float) -> float:
    return lat[min(len(lat) - 1, int(len(lat) * q))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--entries", type=int, default=1_800_000)
    p.add_argument("--items", type=int, default=300)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--store", choices=("redis", "mem"), default="redis")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--also-url-only", action="store_true",
                   help="also time icapfilter with RESPMOD off (REQMOD only)")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="p99iso-", dir="/tmp"))
    phrases = C.load_phrases(STOCK_LISTS)
    hosts = C.make_hosts(2000, args.seed)
    lists = work / "blacklists"
    C.write_blacklist(lists, args.entries, hosts, args.seed)
    subprocess.run(["chmod", "-R", "a+rX", str(work)], check=False)
    items = C.make_corpus(args.items, phrases, args.seed)
    origin, oport = start_origin(items)
    urls = C.url_mix(items, hosts, oport, 5000, args.seed, SMALL)
    lat: dict[str, list[float]] = {"none": [], "icapfilter": []}
    if args.also_url_only:
        lat["icapfilter URLs only"] = []
    redis = args.store == "redis"
    makers = {
        "none": lambda d: NoIcap(d),
        "icapfilter": lambda d: Icapfilter(d, lists, phrases, redis),
        "icapfilter URLs only": lambda d: IcapfilterUrlOnly(d, lists, phrases, redis),
    }
    try:
        for rep in range(args.repeat):
            for n, key in enumerate(lat):
                sc = makers[key](work / f"s{n}-{rep}")
                sc.start(hosts.all())
                try:
                    r = run_rate(sc.squid.port, urls, args.clients, args.rate, args.seconds,
                                 10, args.seed + rep, args.warmup)
                finally:
                    sc.stop()
                lat[key] += r["lat_ms"]
                print(f"[{rep + 1}] {key}: {r['rps']:.1f}/s p50 {r['p50_ms']:.1f} ms "
                      f"p99 {r['p99_ms']:.1f} ms, timeouts {r['timeouts']}, errors "
                      f"{r['errors']}", file=sys.stderr, flush=True)
    finally:
        origin.shutdown()
    print(f"\n{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, `bench/p99_isolated.py "
          f"{' '.join(sys.argv[1:])}`: {args.entries} entries, {args.store} store, "
          f"{args.clients} clients at {args.rate:g}/s, {args.seconds:g} s x {args.repeat}, "
          "≤60 KB bodies, samples pooled\n")
    print("| scenario | n | p50 ms | p99 ms | p99 95% interval |")
    print("|---|---|---|---|---|")
    for key, values in lat.items():
        values.sort()
        lo, hi = p99_interval(values)
        print(f"| {key} | {len(values)} | {pct(values, 0.5):.1f} | {pct(values, 0.99):.1f} | "
              f"{lo:.1f}-{hi:.1f} |")
    b = sorted(lat["none"])
    blo, bhi = p99_interval(b)
    print()
    for key in (k for k in lat if k != "none"):
        a = sorted(lat[key])
        alo, ahi = p99_interval(a)
        print(f"{key}: p99 added {pct(a, 0.99) - pct(b, 0.99):.1f} ms (intervals allow "
              f"{max(0.0, alo - bhi):.1f}-{ahi - blo:.1f}); p50 added "
              f"{pct(a, 0.5) - pct(b, 0.5):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
