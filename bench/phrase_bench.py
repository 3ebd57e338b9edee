"""Phrase filter throughput, per core, with e2guardian's stock English lists.

Run: python bench/phrase_bench.py [--pages 40] [--repeat 3]
Prints MB/s of HTML (and pages/s) for: each matcher engine alone on the
smart pass's bytes, the whole path on ~60 KB gzip pages in default mode and
in e2guardian-exact mode, and e2guardian's byte mapping and tag stripping
alone. The corpus is synthetic and seeded, so runs are comparable.
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from icapfilter.phrases import load_phrase_set, scan_bytes  # noqa: E402
from icapfilter.phrases.bytemap import PAGE_TABLE, SmartStrip, SpaceFolder  # noqa: E402
from icapfilter.phrases.phraseset import PhraseSet  # noqa: E402
from icapfilter.scan_settings import ScanSettings  # noqa: E402
from tests.e2g_lists import e2g_lists_dir, english_phrase_files  # noqa: E402

FUNCTION_WORDS = "the of and to a in is that for it as was with be by on not he this are".split()


def vocabulary(rng: random.Random, ps_words: list[str]) -> tuple[list[str], list[float]]:
    letters = "etaoinshrdlcumwfgypbvk"
    words = FUNCTION_WORDS + [
        "".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(3000)
    ]
    weights = [1.0 / (i + 1) for i in range(len(words))]  # Zipf-like
    return words, weights


def make_page(rng: random.Random, words, weights, naughty: list[str]) -> str:
    def sentence(n: int) -> str:
        ws = rng.choices(words, weights, k=n)
        if naughty and rng.random() < 0.1:
            ws.insert(rng.randrange(len(ws)), rng.choice(naughty))
        s = " ".join(ws)
        return s[0].upper() + s[1:] + rng.choice([".", ".", "!", "?"])

    style = "".join(
        f".c{i} {{ color: #{rng.randrange(16**6):06x}; margin: {i}px; }}\n" for i in range(80)
    )
    script = "".join(
        f"function f{i}(a, b) {{ if (a < b && b > {i}) {{ return '<b>' + a; }} }}\n"
        for i in range(180)
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{sentence(6)}</title><style>{style}</style><script>{script}</script></head>",
        "<body><nav><ul>",
        *(f"<li><a href='/p/{i}'>{sentence(2)}</a></li>" for i in range(20)),
        "</ul></nav><article>",
    ]
    while sum(map(len, parts)) < 55_000:
        para = []
        for _ in range(rng.randint(3, 7)):
            s = sentence(rng.randint(6, 20))
            if rng.random() < 0.3:
                s = s.replace(" ", " <strong>", 1) + "</strong>"
            if rng.random() < 0.3:
                s += f" <a href='https://example.com/{rng.randrange(10**6)}'>{sentence(3)}</a>"
            if rng.random() < 0.2:
                s += " &amp; &copy; &eacute;t&eacute; &nbsp;"
            para.append(s)
        parts.append(f"<p class='c{rng.randrange(80)}'>{' '.join(para)}</p>\n")
    parts.append("</article><footer><!-- footer -->&copy; 2024</footer></body></html>")
    return "".join(parts)


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    lists = e2g_lists_dir()
    files = english_phrase_files(lists)
    exceptions = [f for f in files if "exception" in f.name]
    others = [f for f in files if f not in exceptions]
    t = time.perf_counter()
    ps, errors = load_phrase_set([], others, exceptions, list_dir=lists)
    load_s = time.perf_counter() - t
    print(
        f"lists: {len(files)} English files, {len(ps.singles)} phrases, "
        f"{len(ps.combinations)} combinations, {len(ps.patterns)} automaton keys, "
        f"load+build {load_s * 1000:.0f} ms, {sum(e.level == 'error' for e in errors)} errors"
    )

    rng = random.Random(args.seed)
    words, weights = vocabulary(rng, [])
    naughty = [p.text.strip() for p in ps.singles][:400]
    pages = [make_page(rng, words, weights, naughty) for _ in range(args.pages)]
    raw = [p.encode() for p in pages]
    gz = [gzip.compress(b, 6) for b in raw]
    html_mb = sum(map(len, raw)) / 1e6
    print(
        f"corpus: {len(pages)} pages, {html_mb / len(pages) * 1000:.0f} KB avg HTML, "
        f"{sum(map(len, gz)) / len(gz) / 1000:.0f} KB avg gzip"
    )

    def smart_bytes(b: bytes) -> bytes:
        folder = SpaceFolder()
        return folder.start() + folder.feed(SmartStrip().feed(b).translate(PAGE_TABLE))

    texts = [smart_bytes(b) for b in raw]
    text_mb = sum(map(len, texts)) / 1e6
    engines = {"pyahocorasick": PhraseSet(ps.singles, ps.combinations, engine="pyahocorasick")}
    try:
        engines["ahocorasick-rs"] = PhraseSet(ps.singles, ps.combinations, engine="ahocorasick-rs")
    except ImportError:
        pass  # the `fast` extra is not installed

    def matcher_only(eps: PhraseSet) -> Callable[[], None]:
        def run() -> None:
            for s in texts:
                Counter(eps.matcher.stream().feed(s))

        return run

    hits = sum(sum(1 for _ in ps.matcher.stream().feed(s)) for s in texts) / len(texts)

    def whole_path(exact: bool) -> Callable[[], None]:
        def run() -> None:
            for b in gz:
                scan_bytes(ps, b, ScanSettings(e2guardian_exact=exact), content_type="text/html",
                           content_encoding="gzip")

        return run

    def mapping_only() -> None:
        for b in raw:
            smart_bytes(b)
            b.translate(PAGE_TABLE)

    rows = []
    for name, eps in engines.items():
        dt = timed(matcher_only(eps), args.repeat)
        rows.append((f"{name} alone (smart pass bytes)", text_mb / dt, len(pages) / dt, "text"))
    for label, exact in (("default mode", False), ("e2guardian-exact mode", True)):
        dt = timed(whole_path(exact), args.repeat)
        rows.append((f"whole path, {label}", html_mb / dt, len(pages) / dt, "HTML"))
    dt = timed(mapping_only, args.repeat)
    rows.append(("byte mapping + tag stripping alone", html_mb / dt, len(pages) / dt, "HTML"))
    print(f"hits per page (smart pass): {hits:.0f}")
    for name, mbs, pps, unit in rows:
        print(f"{name:40s} {mbs:8.1f} MB/s of {unit:4s} {pps:8.0f} pages/s")


if __name__ == "__main__":
    main()
