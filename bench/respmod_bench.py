#!/usr/bin/env python3
"""RESPMOD requests per second through the ICAP server for ~60 KB HTML pages
sent gzip-encoded, with e2guardian's stock English phrase lists loaded
(naughtiness limit 50). Prints a Markdown table; asserts nothing.

    python bench/respmod_bench.py --seconds 20

Scenarios run interleaved: phrase scanning on, and the same server with no
phrase lists (the ICAP framing and body transfer alone).
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.icap_load import respmod_message  # noqa: E402
from bench.phrase_bench import make_page, vocabulary  # noqa: E402
from bench.serverbench import Server, run_interleaved  # noqa: E402
from tests.e2g_lists import e2g_lists_dir, english_phrase_files  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--pages", type=int, default=20)
    args = parser.parse_args()
    lists = e2g_lists_dir()
    files = english_phrase_files(lists)
    exceptions = [f for f in files if "exception" in f.name]
    weighted = [f for f in files if f not in exceptions and "banned" not in f.name]
    banned = [f for f in files if "banned" in f.name]
    rng = random.Random(42)
    words, weights = vocabulary(rng, [])
    pages = [make_page(rng, words, weights, []).encode() for _ in range(args.pages)]
    messages = [respmod_message(f"http://www{i}.example.org/", gzip.compress(p, 6), "gzip")
                for i, p in enumerate(pages)]
    avg = sum(map(len, pages)) / len(pages) / 1024
    gz = sum(len(gzip.compress(p, 6)) for p in pages) / len(pages) / 1024

    def toml_list(paths: list[Path]) -> str:
        return "[" + ", ".join(f'"{p}"' for p in paths) + "]"

    with tempfile.TemporaryDirectory() as tmp:
        scan = Path(tmp) / "scan.toml"
        scan.write_text(f"[phrases]\nbanned = {toml_list(banned)}\nweighted = "
                        f"{toml_list(weighted)}\nexception = {toml_list(exceptions)}\n"
                        '[[groups]]\nname = "default"\nnaughtiness_limit = 50\n')
        plain = Path(tmp) / "plain.toml"
        plain.write_text("")
        servers = {"phrase scan on": Server(scan, args.workers),
                   "no phrase lists": Server(plain, args.workers)}
        print(f"{len(pages)} pages, {avg:.0f} KB HTML ({gz:.0f} KB gzip) on average, "
              f"{len(files)} stock English phrase files, {args.workers} workers, "
              f"{args.clients} clients, {args.seconds:.0f} s per run, runs interleaved\n")
        run_interleaved(servers, "RESPMOD 60 KB gzip, {name}, run {run}",
                        messages, args.clients, args.seconds, args.repeat)

if __name__ == "__main__":
    main()
