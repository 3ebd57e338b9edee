"""bench/compare: Squid alone, Squid + icapfilter (Redis and in-process store),
Squid + e2guardian (ICAP), Squid + c-icap (url_check + content_filtering), side
by side in one run, with equal lists and corpus. See docs/benchmarks-compare.md.

Run through the `bench/compare` wrapper (it installs the Debian packages)."""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import corpus as C
from . import direct as D
from . import summary as S
from .load import fetch, run_rate, run_wrk
from .origin import BLOCK_PAGE, start_origin
from .peers import (
    CIcap,
    E2guardian,
    Icapfilter,
    IcapfilterHelper,
    IcapfilterHelperWarm,
    IcapfilterUrlOnly,
    NoIcap,
    Scenario,
    SquidGuard,
    cpu_seconds,
    log,
    peak_rss_mb,
    pss_mb,
)

ROOT = Path(__file__).resolve().parents[2]
STOCK_LISTS = Path("/etc/e2guardian/lists")
SMALL = 60 * 1024


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/compare", description=__doc__.split("\n")[0])
    p.add_argument("--entries", type=int, default=1_800_000, help="blacklist entries")
    p.add_argument("--items", type=int, default=300, help="corpus items")
    p.add_argument("--hosts", type=int, default=2000, help="origin host names (10%% listed)")
    p.add_argument("--seconds", type=float, default=20, help="duration of each load run")
    p.add_argument("--repeat", type=int, default=2, help="repeats (interleaved)")
    p.add_argument("--clients", default="10,50", help="parallel clients, comma-separated")
    p.add_argument("--rate", type=float, default=50, help="requests/s of the fixed-rate test")
    p.add_argument(
        "--warmup",
        type=float,
        default=2,
        help="seconds of untimed load before each fixed-rate run (not sampled)",
    )
    p.add_argument("--tests", default="parallel,rate", help="parallel and/or rate")
    p.add_argument(
        "--sets",
        choices=("auto", "small", "full"),
        default="auto",
        help="URL sets: auto = the full corpus, plus the ≤60 KB set for all when some "
        "scenario stalls on bodies over 64 KB; small = only the ≤60 KB set (for a "
        "shorter run comparable with the ≤60 KB rows of a full one); full = only the "
        "full corpus (scenarios that stall are left out)",
    )
    p.add_argument("--timeout", type=float, default=10, help="seconds before a fetch times out")
    p.add_argument(
        "--settle",
        type=float,
        default=15,
        help="before each run, wait (at most this many seconds) until the processes of "
        "every scenario and this script use under 10%% of one core; 0 = do not wait",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--scenarios",
        default="none,icapfilter-redis,icapfilter-mem,icapfilter-redis-warm,e2guardian,c-icap,"
        "squidguard,icapfilter-redis-url,icapfilter-helper,icapfilter-helper-warm",
        help="of none, icapfilter-redis, icapfilter-mem, icapfilter-redis-warm, "
        "icapfilter-mem-warm, e2guardian, c-icap, squidguard, icapfilter-redis-url, "
        "icapfilter-mem-url, icapfilter-helper, icapfilter-helper-nocache, "
        "icapfilter-helper-warm (warm = learned-mode cache on, primed; "
        "icapfilter-helper-warm = the squid-helper decides URLs and learned-clean pages, "
        "RESPMOD scans the rest; squidguard, *-url, icapfilter-helper and "
        "icapfilter-helper-nocache = URL filtering only, compared with each other, not with "
        "the content filters; -nocache = Squid's external ACL cache off, so the helper sees "
        "every request)",
    )
    p.add_argument(
        "--direct",
        default="reqmod,respmod",
        help="direct ICAP load without Squid: reqmod and/or respmod; '' = none",
    )
    p.add_argument("--direct-clients", default="10", help="ICAP clients of the direct load")
    p.add_argument(
        "--doc",
        type=Path,
        default=ROOT / "docs" / "benchmarks.md",
        help="file whose generated section (compare:begin/end markers) gets the result",
    )
    p.add_argument("--png", type=Path, default=ROOT / "docs" / "img" / "compare.png")
    p.add_argument("--no-doc", action="store_true", help="write neither --doc nor --png")
    p.add_argument(
        "--cicap-all-rules",
        action="store_true",
        help="give c-icap every converted rule, not only phrases the corpus contains",
    )
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    return p.parse_args()


def verify(
    sc: Scenario, items: list[C.Item], hosts: C.Hosts, port: int, timeout: float
) -> list[str]:
    """Problems found fetching known-bad and known-good URLs through ``sc``."""
    suffix = "" if port == 80 else f":{port}"
    proxy = sc.squid.port
    problems = []

    def small(label: str, kind: str) -> C.Item:
        fits = [it for it in items if it.label == label and it.kind == kind]
        if not fits:
            raise SystemExit(f"the corpus has no {label} {kind} page: use more --items")
        return min(fits, key=lambda it: abs(len(it.body) - 30_000))

    good = [
        small("clean", "html"),
        small("clean", "gzip"),
        min((it for it in items if it.kind == "json"), key=lambda it: len(it.body)),
        next(it for it in items if it.kind == "image"),
    ]
    for it in good:
        url = f"http://{hosts.clean[0]}{suffix}{it.path}"
        status, body, _ = fetch(proxy, url, timeout)
        if status != 200 or body != it.text:
            problems.append(
                f"good {it.kind} {url}: status {status}, "
                f"{'body differs' if body != it.text else 'body intact'}"
                f" ({len(body)} of {len(it.text)} bytes)"
            )
    if isinstance(sc, NoIcap):
        return problems
    page = small("clean", "html")
    listed = [
        (f"http://{hosts.listed_domain[0]}{suffix}{page.path}", page, "listed domain"),
        (f"http://{hosts.listed_url[0][0]}{suffix}{page.path}", page, "listed URL"),
    ]
    if sc.url_only:
        return problems + verify_url_only(sc, listed, items, hosts, suffix, timeout)
    bad = [
        *listed,
        (
            f"http://{hosts.clean[1]}{suffix}{small('banned', 'html').path}",
            small("banned", "html"),
            "banned phrase",
        ),
        (
            f"http://{hosts.clean[2]}{suffix}{small('over', 'html').path}",
            small("over", "html"),
            "weighted phrases over the limit",
        ),
    ]
    for url, it, why in bad:
        status, body, _ = fetch(proxy, url, timeout)
        if status == 200 and body == it.text:
            problems.append(f"bad ({why}) {url} was NOT blocked (status 200, page intact)")
        elif status == -1:
            problems.append(f"bad ({why}) {url}: timeout (the user's browser hangs)")
        elif status == -2:
            sc.note += (
                f" [{why}: blocked, but the block page came back broken (connection "
                f"closed mid-body / malformed), so the client sees an error]"
            )
    return problems


def verify_url_only(
    sc: Scenario,
    listed: list[tuple[str, C.Item, str]],
    items: list[C.Item],
    hosts: C.Hosts,
    suffix: str,
    timeout: float,
) -> list[str]:
    """A URL-only scenario must block the listed domain and URL (squidGuard: its
    302 to the block page, which must then load) and must pass the pages with
    phrases untouched: it scans no body, which is what makes it URL-only."""
    problems = []
    for url, it, why in listed:
        status, body, headers = fetch(sc.squid.port, url, timeout)
        if isinstance(sc, SquidGuard):
            where = headers.get("location", "")
            if status != 302 or not where.startswith(sc.block_url):
                problems.append(
                    f"bad ({why}) {url}: status {status}, Location {where!r}, not "
                    f"squidGuard's 302 to {sc.block_url}"
                )
                continue
            bstatus, bbody, _ = fetch(sc.squid.port, where, timeout)
            if bstatus != 403 or bbody != BLOCK_PAGE:
                problems.append(f"block page {where}: status {bstatus}, {len(bbody)} bytes")
        elif isinstance(sc, IcapfilterHelper):
            # Squid's deny_info page: a 403 with the helper's reason (%o)
            page_ok = b"Blocked by the web filter" in body and b"listed in" in body
            if status != 403 or not page_ok:
                problems.append(
                    f"bad ({why}) {url}: status {status}, not Squid's 403 "
                    "ERR_ICAPFILTER_BLOCKED page with the helper's reason"
                )
        elif status == 200 and body == it.text:
            problems.append(f"bad ({why}) {url} was NOT blocked (status 200, page intact)")
        elif status < 0:
            problems.append(f"bad ({why}) {url}: {'timeout' if status == -1 else 'broken'}")
    for i, label in enumerate(("banned", "over")):
        it = next((x for x in items if x.label == label and x.kind == "html"), None)
        if it is None:
            continue
        url = f"http://{hosts.clean[4 + i]}{suffix}{it.path}"
        status, body, _ = fetch(sc.squid.port, url, timeout)
        if status != 200 or body != it.text:
            problems.append(
                f"page with phrases ({label}) {url}: status {status}, not passed intact, so "
                f"bodies are being scanned in a URL-only scenario"
            )
    return problems


def stall_probe(
    sc: Scenario, items: list[C.Item], hosts: C.Hosts, port: int, timeout: float
) -> tuple[int, int]:
    """Fetch clean pages whose body is 64-200 KB; return (stalled or broken, tried)."""
    suffix = "" if port == 80 else f":{port}"
    probe = [
        it
        for it in items
        if it.label == "clean"
        and it.kind in ("html", "gzip")
        and 64 * 1024 < len(it.body) <= 200 * 1024
    ][:8]
    bad = 0
    for i, it in enumerate(probe):
        status, body, _ = fetch(
            sc.squid.port, f"http://{hosts.clean[3 + i]}{suffix}{it.path}", timeout
        )
        if status != 200 or body != it.text:
            bad += 1
    return bad, len(probe)


def prime(sc: Scenario, urls: list[str], timeout: float) -> int:
    """Fetch every distinct URL of the mix once through ``sc`` (8 at a time), so a
    warm (learned-mode) scenario is timed warm."""
    distinct = list(dict.fromkeys(urls))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda u: fetch(sc.squid.port, u, timeout), distinct))
    return len(distinct)


def origin_connections(port: int) -> int:
    """Established TCP connections whose local port is the origin's (IPv4)."""
    want = f":{port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return 0
    return sum(1 for ln in lines if (f := ln.split())[1].endswith(want) and f[3] == "01")


def settle(scenarios: list[Scenario], limit: float, origin_pid: int | None = None,
           origin_port: int | None = None, quiet: float = 0.10, window: float = 0.5,
           idle_connections: int = 300) -> float:
    """Wait until the backlog of the previous run is served; the seconds waited.

    wrk stops with requests still queued in Squid and the filter (a p99 of
    seconds at 50 clients), and they are served while the next run starts. The
    first scenario of each round, Squid alone, paid for it: its fixed-rate p99
    was above that of every URL-only scenario in the 13:18 full run. Waiting
    until every process (Squids, filters, Redis, this script and its origin)
    is near idle gives each run the same quiet start. It also waits until the
    Squids have closed most of their idle connections to the origin (thousands
    after a 50-client run; squid-common.conf closes them after 5 s idle): in
    the 19:47 full run the first fixed-rate runs after the closed-loop phase
    had p99s of 25-172 ms, 3-10 ms later in the round."""
    if limit <= 0:
        return 0.0
    me = os.getpid()
    started = time.monotonic()
    while time.monotonic() - started < limit:
        pids = [me] + [p for sc in scenarios for p in sc.filter_pids() + sc.squid_pids()]
        if origin_pid:
            pids.append(origin_pid)
        c0 = cpu_seconds(pids)
        time.sleep(window)
        if (cpu_seconds(pids) - c0) / window < quiet and (
            origin_port is None or origin_connections(origin_port) < idle_connections
        ):
            break
    return time.monotonic() - started


def fmt_status(d: dict) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(d.items()))


def main() -> int:
    args = parse_args()
    clients = [int(x) for x in args.clients.split(",") if x]
    tests = [t for t in args.tests.split(",") if t]
    wanted = [s for s in args.scenarios.split(",") if s]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="icapcompare-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    started_at = datetime.datetime.now(datetime.UTC)
    log(f"work directory {work}")

    t = time.monotonic()
    phrases = C.load_phrases(STOCK_LISTS)
    hosts = C.make_hosts(args.hosts, args.seed)
    lists = work / "blacklists"
    bl = C.write_blacklist(lists, args.entries, hosts, args.seed)
    subprocess.run(["chmod", "-R", "a+rX", str(work)], check=False)
    items = C.make_corpus(args.items, phrases, args.seed)
    log(
        f"lists and corpus in {time.monotonic() - t:.1f} s: {bl['entries']} blacklist entries "
        f"in {bl['categories']} categories; {len(phrases.phrases)} single phrases "
        f"({phrases.combinations} combinations) from {len(phrases.banned)} banned, "
        f"{len(phrases.weighted)} weighted, {len(phrases.exception)} exception files; "
        + C.describe(items)
    )
    origin, oport = start_origin(items)
    log(f"origin on 127.0.0.1:{oport}")

    makers = {
        "none": lambda: NoIcap(work / "none"),
        "icapfilter-redis": lambda: Icapfilter(work / "icapfilter-redis", lists, phrases, True),
        "icapfilter-mem": lambda: Icapfilter(work / "icapfilter-mem", lists, phrases, False),
        "icapfilter-redis-warm": lambda: Icapfilter(
            work / "icapfilter-redis-warm", lists, phrases, True, warm=True
        ),
        "icapfilter-mem-warm": lambda: Icapfilter(
            work / "icapfilter-mem-warm", lists, phrases, False, warm=True
        ),
        "e2guardian": lambda: E2guardian(work / "e2guardian", lists, phrases),
        "c-icap": lambda: CIcap(
            work / "c-icap", lists, phrases, None if args.cicap_all_rules else items
        ),
        "squidguard": lambda: SquidGuard(work / "squidguard", lists, oport),
        "icapfilter-redis-url": lambda: IcapfilterUrlOnly(
            work / "icapfilter-redis-url", lists, phrases, True
        ),
        "icapfilter-mem-url": lambda: IcapfilterUrlOnly(
            work / "icapfilter-mem-url", lists, phrases, False
        ),
        "icapfilter-helper": lambda: IcapfilterHelper(work / "icapfilter-helper", lists, phrases),
        "icapfilter-helper-nocache": lambda: IcapfilterHelper(
            work / "icapfilter-helper-nocache", lists, phrases, acl_cache=False
        ),
        "icapfilter-helper-warm": lambda: IcapfilterHelperWarm(
            work / "icapfilter-helper-warm", lists, phrases
        ),
    }
    unknown = [k for k in wanted if k not in makers]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; see --help")
    scenarios: list[Scenario] = []
    failed: dict[str, str] = {}
    stalls: dict[str, tuple[int, int]] = {}
    results: list[dict] = []
    direct_modes = [m for m in args.direct.split(",") if m]
    direct_clients = [int(x) for x in args.direct_clients.split(",") if x]
    msgs = D.Messages(items, hosts, oport, args.seed) if direct_modes else None
    direct_ok: dict[str, list[str]] = {}  # scenario name -> modes it passed
    direct_skipped: dict[tuple[str, str], str] = {}
    try:
        for key in wanted:
            sc = makers[key]()
            sc.key = key
            log(f"starting {sc.name}")
            t = time.monotonic()
            try:
                sc.start(hosts.all())
            except Exception as e:  # noqa: BLE001 - report and go on with the others
                failed[sc.name] = f"did not start: {e}"
                log(f"  FAILED: {e}")
                sc.stop()
                continue
            log(f"  up in {time.monotonic() - t:.1f} s {sc.note}")
            problems = verify(sc, items, hosts, oport, args.timeout)
            if problems:
                failed[sc.name] = "refused, it does not filter correctly: " + "; ".join(problems)
                log("  REFUSED (no numbers will be reported):\n    " + "\n    ".join(problems))
                sc.stop()
                continue
            if isinstance(sc, NoIcap):
                proof = ""
            elif sc.url_only:
                how = (
                    " (302 to its block page, which loads)"
                    if isinstance(sc, SquidGuard)
                    else " (Squid's 403 page with the helper's reason)"
                    if isinstance(sc, IcapfilterHelper)
                    else ""
                )
                proof = (
                    f"blocks the listed domain and the listed URL{how}; passes the "
                    "banned-phrase and over-limit pages intact (URLs only); "
                )
            else:
                proof = (
                    "blocks the listed domain, the listed URL, a banned phrase and a "
                    "page over the limit; "
                )
            log("  proof: " + proof + "passes clean HTML, gzip HTML, JSON and PNG unchanged")
            stalls[sc.name] = stall_probe(sc, items, hosts, oport, args.timeout)
            log(
                f"  stall probe (bodies 64-200 KB, {args.timeout:.0f} s timeout): "
                f"{stalls[sc.name][0]} of {stalls[sc.name][1]} stalled or broken"
            )
            scenarios.append(sc)
            if msgs is not None and not isinstance(sc, NoIcap) and not sc.url_only and sc.direct:
                dproblems = D.verify(sc, msgs, args.timeout)
                direct_ok[sc.name] = [m for m in direct_modes if not dproblems[m]]
                for m in direct_modes:
                    if dproblems[m]:
                        direct_skipped[(sc.name, m)] = "; ".join(dproblems[m])
                log(
                    "  direct ICAP proof: "
                    + "; ".join(
                        f"{m.upper()} "
                        + ("ok" if not dproblems[m] else "REFUSED: " + "; ".join(dproblems[m]))
                        for m in direct_modes
                    )
                )

        sets = [("≤60 KB bodies", SMALL, scenarios)]
        passing = [sc for sc in scenarios if stalls[sc.name][0] == 0]
        if args.sets == "full":
            sets = [("full corpus", None, passing)]
        elif args.sets == "small":
            pass
        elif any(stalls[sc.name][0] for sc in scenarios):
            sets.insert(0, ("full corpus", None, passing))
        else:
            sets = [("full corpus", None, scenarios)]
        url_files = {}
        for set_name, limit, _ in sets:
            urls = C.url_mix(items, hosts, oport, 5000, args.seed, limit)
            f = work / f"urls-{'full' if limit is None else 'small'}.txt"
            f.write_text("\n".join(urls) + "\n")
            url_files[set_name] = (f, urls)
        timed_from = time.monotonic()
        for sc in scenarios:
            if sc.warm:
                for set_name, (_, urls) in url_files.items():
                    t = time.monotonic()
                    n = prime(sc, urls, args.timeout)
                    log(
                        f"  primed {sc.name} on the {set_name} mix: {n} distinct URLs "
                        f"fetched once in {time.monotonic() - t:.0f} s"
                    )
                timed_from = max(timed_from, time.monotonic() + sc.prime_settle)
        if timed_from > time.monotonic():
            log(
                f"  waiting {timed_from - time.monotonic():.0f} s for Squid's cached helper "
                "answers of the priming pass to expire"
            )
            time.sleep(max(0.0, timed_from - time.monotonic()))

        for rep in range(args.repeat):
            for set_name, _, members in sets:
                for n in clients:
                    for test in tests:
                        for sc in members:
                            waited = settle(scenarios, args.settle, origin.pid(), oport)
                            fpids, spids = sc.filter_pids(), sc.squid_pids()
                            f0, s0 = cpu_seconds(fpids), cpu_seconds(spids)
                            f, urls = url_files[set_name]
                            if test == "parallel":
                                r = run_wrk(work, sc.squid.port, f, n, args.seconds, args.timeout)
                            else:
                                r = run_rate(
                                    sc.squid.port,
                                    urls,
                                    n,
                                    args.rate,
                                    args.seconds,
                                    args.timeout,
                                    args.seed + rep,
                                    args.warmup,
                                )
                            r.update(
                                section="squid",
                                key=sc.key,
                                scenario=sc.name,
                                set=set_name,
                                clients=n,
                                test=test,
                                repeat=rep + 1,
                                settle_s=round(waited, 1),
                                filter_cpu_s=cpu_seconds(sc.filter_pids()) - f0,
                                squid_cpu_s=cpu_seconds(sc.squid_pids()) - s0,
                                filter_rss_mb=peak_rss_mb(sc.filter_pids()),
                                filter_pss_mb=pss_mb(sc.filter_pids()),
                                squid_rss_mb=peak_rss_mb(sc.squid_pids()),
                            )
                            results.append(r)
                            log(
                                f"  [{rep + 1}] {set_name}, {test}, {n} clients, {sc.name}: "
                                f"{r['rps']:.1f}/s p99 {r['p99_ms']:.0f} ms, timeouts "
                                f"{r['timeouts']}, errors {r['errors']}, "
                                f"{fmt_status(r['statuses'])}"
                            )
            for mode in direct_modes:
                for n in direct_clients:
                    for sc in scenarios:
                        if mode not in direct_ok.get(sc.name, []):
                            continue
                        messages = msgs.reqmod(sc) if mode == "reqmod" else msgs.respmod(sc)
                        f0 = cpu_seconds(sc.filter_pids())
                        r = D.run(sc, messages, n, args.seconds, args.timeout)
                        r.update(
                            section="direct",
                            key=sc.key,
                            scenario=sc.name,
                            mode=mode,
                            clients=n,
                            repeat=rep + 1,
                            filter_cpu_s=cpu_seconds(sc.filter_pids()) - f0,
                        )
                        results.append(r)
                        log(
                            f"  [{rep + 1}] direct {mode.upper()}, {n} clients, {sc.name}: "
                            f"{r['rps']:.1f}/s p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms, "
                            f"errors {r['errors']}, statuses {fmt_status(r['statuses'])}"
                        )
    finally:
        for sc in scenarios:
            sc.stop()
        origin.shutdown()
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    text = report(
        args,
        started_at,
        bl,
        phrases,
        items,
        scenarios,
        failed,
        stalls,
        results,
        sets if results else [],
        msgs,
        direct_skipped,
    )
    print(text)
    if not args.no_doc and results:
        S.write_doc(args.doc, text)
        log(f"result written to the generated section of {args.doc}")
        common = sets[-1][0]
        log(S.chart(results, common, {sc.key: sc.name for sc in scenarios}, args.png))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0 if not failed else 1


def versions() -> str:
    def deb(pkg: str) -> str:
        r = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True
        )
        return r.stdout or "?"

    def installed(pkg: str) -> bool:
        r = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True
        )
        return r.stdout.endswith("ok installed")

    pkgs = [
        "squid-openssl" if installed("squid-openssl") else "squid",
        "squidguard",
        "e2guardian",
        "c-icap",
        "libc-icap-mod-urlcheck",
        "libc-icap-mod-contentfiltering",
        "redis-server",
        "wrk",
    ]

    def py(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    # icapfilter's optional speed-ups (the `fast` extra) change its figures
    dists = ["pyahocorasick", "ahocorasick-rs", "isal"]
    return ", ".join([f"{p} {deb(p)}" for p in pkgs] + [f"{d} {py(d)} (Python)" for d in dists])


def retried(rs: list[dict]) -> str:
    n = sum(r.get("retries") or 0 for r in rs)
    return f" (+{n} retried)" if n else ""


def machine() -> str:
    model = "?"
    mem = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024**2:.0f} GiB"
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem}, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )


def report(
    args, started_at, bl, phrases, items, scenarios, failed, stalls, results, sets, msgs, skipped
) -> str:
    out = []
    names = {sc.key: sc.name for sc in scenarios}
    common = sets[-1][0] if sets else ""
    out.append(f"### bench/compare run, {started_at:%Y-%m-%d %H:%M} UTC\n")
    out.append(f"- Machine: {machine()}")
    out.append(f"- Packages: {versions()}")
    out.append(f"- Command: `bench/compare {' '.join(sys.argv[1:])}`")
    out.append(
        f"- Lists: {bl['entries']} blacklist entries (UT1 layout, {bl['categories']} "
        f"categories); {len(phrases.phrases)} single phrases + {phrases.combinations} "
        f"combinations from e2guardian's stock English phrase lists; limit 50"
    )
    out.append(f"- Corpus: {C.describe(items)}; URL mix 90% unlisted / 10% listed hosts")
    out.append(
        f"- Load: {args.seconds:.0f} s per run, {args.repeat} repeat(s), interleaved; "
        f"'parallel' = wrk closed loop; 'rate' = {args.rate:.0f} req/s total with "
        f"±50% jitter per client, after {args.warmup:g} s of the same load untimed "
        f"(connections opened, first requests made, nothing sampled); fetch timeout "
        f"{args.timeout:.0f} s; before each run, up to {args.settle:g} s of waiting until "
        f"every scenario's processes and the origin use under 10% of one core (what the "
        f"previous run left queued is served first)"
    )
    for sc in scenarios:
        if sc.note:
            out.append(f"- {sc.name}: {sc.note}")
    for name, (bad, tried) in stalls.items():
        out.append(
            f"- Stall probe {name}: {bad} of {tried} clean pages of 64-200 KB stalled "
            f"or came back broken"
        )
    for name, why in failed.items():
        out.append(f"- **{name}: no numbers.** {why}")
    if any(sc.warm for sc in scenarios):
        out.append(
            "- WARM rows: icapfilter with `[learned] ttl = 86400` (learned-mode verdict "
            "cache) and `mark_requests = true` (Squid skips RESPMOD for a page learned "
            "clean), every distinct URL of the mix fetched once before timing; all other "
            "icapfilter rows are cold (`ttl = 0`, every body scanned). Never compare a warm "
            "row as if it were cold. The squid-helper WARM row has the same icapfilter "
            "configuration, but Squid asks `icapfilter squid-helper` (same configuration "
            "file) for the URL decision and for `learned-clean` instead of making a REQMOD "
            "(bench/peers/squid-icapfilter-helper-learned.conf, docs/squid-helper.md), and "
            "waits 61 s after priming so that its cached 'not learned yet' answers expire."
        )
    if any(sc.url_only for sc in scenarios):
        out.append(
            "- URL-only rows (squidGuard, `icapfilter URLs only`): URL/domain lists only, no "
            "body is scanned (squidGuard cannot; icapfilter's Squid has "
            "`adaptation_access icapfilter_resp deny all`, its icapfilter is the cold one, same "
            "lists and store). They are compared with each other in their own table and goal, "
            "never in the content-scanning ratios; their proof requires the phrase pages to "
            "come back intact. squidGuard blocks with a 302 to a block page (Squid answers it "
            "without the origin), icapfilter with a 403 page. Squid 5.7 closes the client "
            "connection after a REQMOD block page whose end it reads with the page (bug 5187, "
            "docs/squid.md); icapfilter sends the end 5 ms later (`block_end_delay_ms`), "
            "which makes such closes rare but not impossible under load: the ones left cost "
            "a reconnect and show as wrk 'errors'. The CPU and RSS of Squid's squidGuard "
            "children count as the filter's, not Squid's."
        )
    for helper in (sc for sc in scenarios if isinstance(sc, IcapfilterHelper)):
        cache = (
            "Squid's external ACL cache is keyed by client, user and URL: every load client "
            "is 127.0.0.1, so a URL of the mix fetched again within the ttl is answered "
            "without the helper (squidGuard, a url_rewrite_program, has no such cache and "
            "sees every request). "
            if helper.acl_cache
            else ""
        )
        out.append(
            f"- `{helper.name}` row: no ICAP; Squid asks icapfilter's URL engine "
            "(Redis store, same lists) as an `external_acl_type` helper "
            "(bench/peers/squid-icapfilter-helper.conf) and blocks with its own 403 page. "
            f"{helper.note}. {cache}The helper children's CPU and RSS count as the filter's."
        )
    out.append("")
    if sets:
        out.append(
            f"#### Headline: through Squid, {common}, medians over {args.repeat} repeat(s)\n"
        )
        out.append(
            "fetches/s and the ratios are from the closed-loop (wrk) test; 'of no-ICAP' = "
            f"fetches/s / Squid alone's. p99 (rate) is the fixed-rate test ({args.rate:.0f}/s), "
            "over the samples of all repeats pooled. Timeouts and 5xx are summed over both "
            "tests and all repeats. Content filtering (URL lists + phrase scanning):\n"
        )
        out += S.headline(results, common, names) or ["(no content-filtering scenario ran)"]
        url_rows = S.headline(results, common, names, url_only=True)
        if url_rows:
            out.append("")
            out.append(
                "URL filtering only (no body scanned; not comparable with the rows above):\n"
            )
            out += url_rows
        out.append("")
        out.append("#### Goals (issue 6)\n")
        out += S.goal_lines(S.goals(results, common, names))
        out.append("")
        out.append(
            "How the p99 goal is computed: the fixed-rate test at 10 clients samples every "
            "request after an untimed warm-up (so opening the connections and Squid's first "
            "requests to the origin and the filter are not sampled); the samples of all "
            "repeats are pooled and one p99 is taken, with its distribution-free 95% interval "
            "(order statistics around rank n·0.99). With about 1,000 samples a p99 rests on "
            "its 10 slowest requests, so a few outliers of Squid alone can push its p99 above "
            "the filter's; the goal then says so, gives no negative 'added' figure and judges "
            "on the filter's p99 minus Squid alone's p50 (an upper bound) instead. The "
            "p50 difference is printed too: it is what the filter adds to a typical request.\n"
        )
    direct = S.direct_table(results, names, skipped)
    if direct:
        out.append(f"#### Direct ICAP load (no Squid), medians over {args.repeat} repeat(s)\n")
        out.append(
            f"bench/icap_load.py's client: N processes, each on one persistent connection, "
            f"{args.seconds:.0f} s per run, messages with `Allow: 204` and no preview; "
            f"{msgs.describe()}. e2guardian's RESPMOD messages carry the X-ICAP-E2G header "
            f"of its REQMOD answer, as Squid hands it on. 'errors' = connections the filter "
            f"closed (icap_load reconnects; c-icap closes after MaxKeepAliveRequests 100).\n"
        )
        out += direct
        out.append("")
    out.append("#### All runs through Squid\n")
    out.append(
        "Medians over repeats; timeouts, errors and statuses summed over repeats; CPU "
        "seconds per run (mean); peak RSS = sum of the processes' VmHWM at the end "
        "(icapfilter Redis includes redis-server); filter PSS = sum of the processes' "
        "proportional set size at the end (shared pages counted once). 'errors' in the "
        "parallel (wrk) test are "
        "mostly requests wrk had sent on a persistent connection that Squid closed after "
        "a REQMOD block page (Squid 5.7 bug 5187; icapfilter's 5 ms `block_end_delay_ms` "
        "makes these rare, the peers' block pages are not timed that way); the rate "
        "client retries those once on a new connection ('retried') and counts only real "
        "failures as errors. Block pages are 403 from "
        "icapfilter and c-icap, 200 from e2guardian, a 302 redirect from squidGuard, so "
        "compare statuses with care. p99 of a 'rate' row here is the median of the runs' "
        "p99 (the headline pools the samples).\n"
    )
    out.append(
        "| corpus | test | clients | scenario | fetches/s | mean ms | p50 ms | p99 ms | "
        "timeouts | errors | statuses | filter CPU s | Squid CPU s | filter RSS MB | "
        "filter PSS MB | Squid RSS MB |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        if r.get("section") != "squid":
            continue
        groups.setdefault((r["set"], r["test"], r["clients"], r["scenario"]), []).append(r)
    for (set_name, test, n, name), rs in groups.items():
        med = {
            k: statistics.median(r[k] for r in rs) for k in ("rps", "mean_ms", "p50_ms", "p99_ms")
        }
        st: dict[int, int] = {}
        for r in rs:
            for k, v in r["statuses"].items():
                st[k] = st.get(k, 0) + v
        out.append(
            f"| {set_name} | {test} | {n} | {name} | {med['rps']:.1f} | {med['mean_ms']:.1f} | "
            f"{med['p50_ms']:.1f} | {med['p99_ms']:.1f} | {sum(r['timeouts'] for r in rs)} | "
            f"{sum(r['errors'] for r in rs)}{retried(rs)} | {fmt_status(st)} | "
            f"{statistics.fmean(r['filter_cpu_s'] for r in rs):.1f} | "
            f"{statistics.fmean(r['squid_cpu_s'] for r in rs):.1f} | "
            f"{max(r['filter_rss_mb'] for r in rs):.0f} | "
            f"{max(r.get('filter_pss_mb', 0.0) for r in rs):.0f} | "
            f"{max(r['squid_rss_mb'] for r in rs):.0f} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
