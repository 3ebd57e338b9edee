"""Start and stop each scenario: one Squid per scenario plus its filter, all on
free loopback ports, configured from the recorded files in bench/peers/."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .corpus import CATEGORIES, Item, PhraseSet

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "bench" / "peers"
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(text: str, **values: object) -> str:
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    return text


def wait_port(port: int, proc: subprocess.Popen | None, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}: {err}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")


def tree(pid: int) -> list[int]:
    out = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for k in kids:
        out += tree(int(k))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def peak_rss_mb(pids: list[int]) -> float:
    """Sum over the processes of their peak resident set (VmHWM)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def pss_mb(pids: list[int]) -> float:
    """Sum of the processes' proportional set size now: pages shared between them
    (a forked worker's inherited heap, a mapped list image) counted once, which a
    sum of RSS counts once per process."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def stop_proc(proc: subprocess.Popen | None, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Squid:
    def __init__(self, workdir: Path, scenario_conf: str, hosts: list[str]) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o777)
        (workdir / "hosts").write_text(
            "127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {h}\n" for h in hosts)
        )
        self.port = free_port()
        conf = fill(scenario_conf, HTTP_PORT=self.port)
        conf = re.sub(r"^http_port 3128.*$", f"http_port 127.0.0.1:{self.port}", conf, flags=re.M)
        conf += "\n" + fill((PEERS / "squid-common.conf").read_text(), WORKDIR=workdir)
        (workdir / "squid.conf").write_text(conf)
        self.proc = subprocess.Popen(
            ["squid", "-N", "-f", str(workdir / "squid.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_port(self.port, self.proc, "squid", 60)

    def pids(self) -> list[int]:
        return tree(self.proc.pid)

    def stop(self) -> None:
        stop_proc(self.proc)


class Scenario:
    name = "?"
    note = ""
    icap_port = 0
    key = "?"  # the --scenarios name
    warm = False  # a learned-mode (verdict cache) scenario: never reported as cold
    url_only = False  # filters URLs only (no body scanning): the URL-only comparison
    # ICAP service paths (REQMOD, RESPMOD) for the direct load, "" = none
    services: tuple[str, str] = ("", "")
    # ICAP headers of the REQMOD answer Squid passes on to RESPMOD (masterx shared names)
    shared_headers: tuple[str, ...] = ()
    direct = True  # also load its ICAP server directly (without Squid)
    # seconds to wait after priming before timing: Squid's cached answers from
    # the priming pass (a helper's "not learned yet") must expire first
    prime_settle = 0.0

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o777)
        self.procs: list[subprocess.Popen] = []
        self.squid: Squid | None = None

    def squid_conf(self) -> str:
        raise NotImplementedError

    def start_filter(self) -> None:
        pass

    def start(self, hosts: list[str]) -> None:
        self.icap_port = free_port()
        self.start_filter()
        self.squid = Squid(
            self.workdir / "squid", fill(self.squid_conf(), ICAP_PORT=self.icap_port), hosts
        )

    def filter_pids(self) -> list[int]:
        return [p for proc in self.procs if proc.poll() is None for p in tree(proc.pid)]

    def squid_pids(self) -> list[int]:
        """Squid's processes, without the filter's (a url_rewrite_program's children)."""
        mine = set(self.filter_pids())
        return [p for p in self.squid.pids() if p not in mine] if self.squid else []

    def stop(self) -> None:
        if self.squid:
            self.squid.stop()
        for proc in reversed(self.procs):
            stop_proc(proc)


class NoIcap(Scenario):
    name = "squid only (no ICAP)"

    def squid_conf(self) -> str:
        return (PEERS / "squid-none.conf").read_text()


def toml_list(paths: list[Path]) -> str:
    return "[" + ", ".join(f'"{p}"' for p in paths) + "]"


class Icapfilter(Scenario):
    services = ("reqmod", "respmod")

    def __init__(
        self, workdir: Path, lists: Path, phrases: PhraseSet, redis: bool, warm: bool = False
    ) -> None:
        super().__init__(workdir)
        self.lists, self.phrases, self.redis, self.warm = lists, phrases, redis, warm
        self.name = f"icapfilter ({'Redis' if redis else 'in-process'} store)"
        if warm:
            self.name = f"icapfilter WARM ({'Redis' if redis else 'in-process'} store, learned)"

    def squid_conf(self) -> str:
        text = (ROOT / "squid.conf.example").read_text()
        return text.replace("icap://127.0.0.1:1344/", f"icap://127.0.0.1:{self.icap_port}/")

    def start_redis(self) -> str:
        """A throwaway redis-server with the lists loaded; its URL."""
        rport = free_port()
        rproc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(rport),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(rproc)
        wait_port(rport, rproc, "redis-server", 30)
        redis_url = f"redis://127.0.0.1:{rport}/0"
        t = time.monotonic()
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "icapfilter",
                "lists",
                "load",
                "--redis",
                redis_url,
                str(self.lists),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if res.returncode != 0:
            raise RuntimeError(f"icapfilter lists load failed: {res.stderr[-2000:]}")
        log(f"  loaded lists into Redis in {time.monotonic() - t:.1f} s")
        return redis_url

    def start_filter(self) -> None:
        redis_url = self.start_redis() if self.redis else ""
        conf = fill(
            (PEERS / "icapfilter.toml").read_text(),
            ICAP_PORT=self.icap_port,
            REDIS_URL=redis_url,
            LEARNED_TTL=86400 if self.warm else 0,
            LIST_PATHS="[]" if self.redis else toml_list([self.lists]),
            BANNED=toml_list(self.phrases.banned),
            WEIGHTED=toml_list(self.phrases.weighted),
            EXCEPTION=toml_list(self.phrases.exception),
        )
        (self.workdir / "icapfilter.toml").write_text(conf)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "icapfilter",
                "serve",
                "--config",
                str(self.workdir / "icapfilter.toml"),
                "--workers",
                "2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        self.procs.append(proc)
        wait_port(self.icap_port, proc, "icapfilter serve")
        time.sleep(1.0)


def _override(text: str, key: str, value: str) -> str:
    pattern = re.compile(rf"^\s*#?\s*{re.escape(key)}\s*=.*$", re.M)
    if pattern.search(text):
        return pattern.sub(lambda m: f"{key} = {value}", text, count=1)
    return text + f"\n{key} = {value}\n"


class E2guardian(Scenario):
    name = "e2guardian 5.3 ICAP"
    services = ("request", "response")
    shared_headers = ("X-ICAP-E2G",)

    def __init__(self, workdir: Path, lists: Path, phrases: PhraseSet) -> None:
        super().__init__(workdir)
        self.lists, self.phrases = lists, phrases

    def squid_conf(self) -> str:
        return (PEERS / "squid-e2guardian.conf").read_text()

    def start_filter(self) -> None:
        w = self.workdir
        etc = w / "etc"
        if etc.exists():
            shutil.rmtree(etc)
        shutil.copytree("/etc/e2guardian", etc)
        for f in etc.rglob("*"):
            if f.is_file() and f.suffix in ("", ".conf", ".story") and f.stat().st_size < 200_000:
                try:
                    t = f.read_text()
                except UnicodeDecodeError:
                    continue
                if "/etc/e2guardian" in t:
                    f.write_text(t.replace("/etc/e2guardian", str(etc)))
        lw = etc / "lists"
        # the blacklist: every UT1 domains/urls file, included as the stock list suggests
        (lw / "bannedsitelist").write_text(
            "".join(f".Include<{self.lists}/{c}/domains>\n" for c in CATEGORIES)
        )
        (lw / "bannedurllist").write_text(
            "".join(f".Include<{self.lists}/{c}/urls>\n" for c in CATEGORIES)
        )
        for kind, files in (
            ("banned", self.phrases.banned),
            ("weighted", self.phrases.weighted),
            ("exception", self.phrases.exception),
        ):
            (lw / f"{kind}phraselist").write_text("".join(f".Include<{f}>\n" for f in files))
        values = {"ICAP_PORT": self.icap_port, "FILTER_PORT": free_port(), "WORKDIR": etc}
        section = None
        main = (etc / "e2guardian.conf").read_text()
        f1 = (etc / "e2guardianf1.conf").read_text()
        for line in fill((PEERS / "e2guardian.overrides").read_text(), **values).splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line in ("[main]", "[f1]"):
                section = line
                continue
            key, value = (s.strip() for s in line.split("=", 1))
            if section == "[main]":
                main = _override(main, key, value)
            else:
                f1 = _override(f1, key, value)
        (etc / "e2guardian.conf").write_text(main)
        (etc / "e2guardianf1.conf").write_text(f1)
        subprocess.run(["chmod", "-R", "a+rwX", str(w)], check=False)
        proc = subprocess.Popen(
            ["e2guardian", "-N", "-c", str(etc / "e2guardian.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        wait_port(self.icap_port, proc, "e2guardian", 600)
        time.sleep(1.0)


def _rule_regex(text: str) -> str:
    core = text.strip()
    body = re.escape(core).replace("/", r"\/")
    if text.startswith(" "):
        body = r"\b" + body
    if text.endswith(" "):
        body = body + r"\b"
    return f"/{body}/i"


def cicap_rules(phrases: PhraseSet, items: list[Item] | None) -> dict[str, list[str]]:
    """Converted rules per filter; with ``items``, only phrases the corpus contains."""
    present = None
    if items is not None:
        import ahocorasick

        auto = ahocorasick.Automaton()
        for p in phrases.phrases:
            core = p.text.strip()
            if core:
                auto.add_word(core, core)
        auto.make_automaton()
        present = set()
        for it in items:
            if it.kind in ("html", "gzip", "json"):
                for _, core in auto.iter(it.text.decode("utf-8", "replace").lower()):
                    present.add(core)
    out: dict[str, list[str]] = {"weighted": [], "banned": [], "exception": []}
    seen = set()
    for p in phrases.phrases:
        if present is not None and p.text.strip() not in present:
            continue
        if (p.kind, p.text) in seen or not p.text.isascii():
            continue
        seen.add((p.kind, p.text))
        score = p.weight if p.kind == "weighted" else 1
        if p.kind == "weighted" and not score:
            continue
        out[p.kind].append(f"score={score} {_rule_regex(p.text)}")
    return out


class CIcap(Scenario):
    name = "c-icap 0.5 url_check + content_filtering"
    services = ("url_check", "srv_content_filtering")

    def __init__(
        self, workdir: Path, lists: Path, phrases: PhraseSet, items: list[Item] | None
    ) -> None:
        super().__init__(workdir)
        self.lists, self.phrases, self.items = lists, phrases, items

    def squid_conf(self) -> str:
        return (PEERS / "squid-c-icap.conf").read_text()

    def start_filter(self) -> None:
        w = self.workdir
        (w / "tmp").mkdir(exist_ok=True)
        dbroot = w / "sgdb"
        dbs = []
        t = time.monotonic()
        for cat in CATEGORIES:
            d = dbroot / cat
            d.mkdir(parents=True, exist_ok=True)
            for kind in ("domains", "urls"):
                shutil.copy(self.lists / cat / kind, d / kind)
            res = subprocess.run(
                ["c-icap-mods-sguardDB", "-C", "-db", str(d)], capture_output=True, text=True
            )
            if res.returncode != 0:
                raise RuntimeError(f"c-icap-mods-sguardDB failed for {cat}: {res.stderr[-500:]}")
            dbs.append(f"url_check.LoadSquidGuardDB {cat.replace('-', '_')} {d}/")
        log(f"  built {len(dbs)} squidGuard DBs in {time.monotonic() - t:.1f} s")
        rules = cicap_rules(self.phrases, self.items)
        self.note = (
            f"{len(rules['weighted'])} weighted, {len(rules['banned'])} banned, "
            f"{len(rules['exception'])} exception rules"
            + (" (reduced: phrases the corpus contains)" if self.items else " (all)")
        )
        for kind, lines in rules.items():
            (w / f"{kind}.rules").write_text("\n".join(lines) + "\n")
        conf = fill(
            (PEERS / "c-icap.conf").read_text(),
            WORKDIR=w,
            ICAP_PORT=self.icap_port,
            URL_DBS="\n".join(dbs),
            URL_CATS=" ".join(c.replace("-", "_") for c in CATEGORIES),
        )
        (w / "c-icap.conf").write_text(conf)
        subprocess.run(["chmod", "-R", "a+rwX", str(w)], check=False)
        proc = subprocess.Popen(
            ["c-icap", "-N", "-f", str(w / "c-icap.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        wait_port(self.icap_port, proc, "c-icap", 300)
        time.sleep(1.0)


class IcapfilterUrlOnly(Icapfilter):
    """icapfilter on REQMOD only: Squid's RESPMOD service is switched off
    (``adaptation_access icapfilter_resp deny all``), so no body is scanned;
    icapfilter's own configuration is that of the cold scenario."""

    url_only = True
    services = ("reqmod", "")

    def __init__(self, workdir: Path, lists: Path, phrases: PhraseSet, redis: bool) -> None:
        super().__init__(workdir, lists, phrases, redis)
        store = "Redis" if redis else "in-process"
        self.name = f"icapfilter URLs only ({store} store, RESPMOD off)"

    def squid_conf(self) -> str:
        # every adaptation_access line of the RESPMOD service goes, one deny all
        # takes the place of the first (Squid uses the first line that matches)
        text, n = re.subn(
            r"^adaptation_access icapfilter_resp .*$\n?", "", super().squid_conf(), flags=re.M
        )
        if n == 0:
            raise RuntimeError(
                "squid.conf.example has no 'adaptation_access icapfilter_resp' line to turn "
                "RESPMOD off with"
            )
        return re.sub(
            r"^(adaptation_access icapfilter_req .*)$",
            r"\1\nadaptation_access icapfilter_resp deny all",
            text,
            count=1,
            flags=re.M,
        )


def _is_squidguard(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "squidGuard"
    except OSError:
        return False


class SquidGuard(Scenario):
    """squidGuard 1.6 as Squid's url_rewrite_program, on the same UT1 folder (copied,
    because ``squidGuard -C all`` writes its ``.db`` files next to the text lists).
    URLs only: squidGuard never sees a body."""

    name = "squidGuard 1.6 (URLs only)"
    url_only = True
    block_path = "/blocked"

    def __init__(self, workdir: Path, lists: Path, origin_port: int) -> None:
        super().__init__(workdir)
        self.lists = lists
        self.block_url = f"http://127.0.0.1:{origin_port}{self.block_path}"

    def squid_conf(self) -> str:
        return fill(
            (PEERS / "squid-squidguard.conf").read_text(),
            SG_CONF=self.workdir / "squidGuard.conf",
        )

    def start_filter(self) -> None:
        w = self.workdir
        db = w / "db"
        if db.exists():
            shutil.rmtree(db)
        shutil.copytree(self.lists, db)
        (w / "log").mkdir(exist_ok=True)
        names = {c: c.replace("-", "_") for c in CATEGORIES}
        dests = "".join(
            f"dest {n} {{\n\tdomainlist\t{c}/domains\n\turllist\t\t{c}/urls\n}}\n\n"
            for c, n in names.items()
        )
        conf = fill(
            (PEERS / "squidGuard.conf").read_text(),
            DBHOME=db,
            LOGDIR=w / "log",
            DESTS=dests.rstrip() + "\n",
            PASS=" ".join(f"!{n}" for n in names.values()) + " all",
            BLOCK_URL=self.block_url,
        )
        (w / "squidGuard.conf").write_text(conf)
        t = time.monotonic()
        res = subprocess.run(
            ["squidGuard", "-c", str(w / "squidGuard.conf"), "-C", "all"],
            capture_output=True,
            text=True,
        )
        took = time.monotonic() - t
        built = sorted(db.rglob("*.db"))
        empty = [p for p in built if p.stat().st_size == 0]
        if res.returncode != 0 or len(built) != 2 * len(CATEGORIES) or empty:
            sglog = w / "log" / "squidGuard.log"
            tail = sglog.read_text()[-1500:] if sglog.exists() else ""
            raise RuntimeError(
                f"squidGuard -C all: exit {res.returncode}, {len(built)} .db files "
                f"({len(empty)} empty): {res.stderr[-500:]} {tail}"
            )
        log(f"  built {len(built)} squidGuard Berkeley DBs (squidGuard -C all) in {took:.1f} s")
        self.note = (
            f"Berkeley DBs of {len(CATEGORIES)} categories built with `squidGuard -C all` "
            f"in {took:.1f} s (before timing); blocks with `redirect 302:{self.block_url}"
            f"?url=%u`; Squid and the origin only, no body scanning"
        )
        # Squid runs its url_rewrite_program children as its effective user (proxy)
        subprocess.run(["chmod", "-R", "a+rwX", str(w)], check=False)

    def filter_pids(self) -> list[int]:
        return [p for p in (self.squid.pids() if self.squid else []) if _is_squidguard(p)]


def helper_command() -> str:
    """How Squid's unprivileged user (proxy) runs ``python -m icapfilter``: this
    interpreter when proxy can reach it, else Debian's python3 (same minor
    version) with the checkout and this environment's packages on PYTHONPATH
    (a pyenv Python under a 0700 /root is out of proxy's reach)."""
    import site

    path = ":".join([str(ROOT), *site.getsitepackages()])
    for exe in (sys.executable, "/usr/bin/python3"):
        command = f"/usr/bin/env PYTHONPATH={path} {exe} -m icapfilter"
        probe = subprocess.run(
            ["su", "-s", "/bin/sh", "proxy", "-c", f"cd / && {command} squid-helper --help"],
            capture_output=True,
            timeout=60,
        )
        if probe.returncode == 0:
            return command
    raise RuntimeError("no Python the proxy user can run icapfilter with")


def _is_helper(pid: int) -> bool:
    try:
        return b"squid-helper" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _helper_children(squid: Squid | None) -> list[int]:
    """Squid's ``icapfilter squid-helper`` children: the filter's, not Squid's."""
    return [p for p in (squid.pids() if squid else []) if _is_helper(p)]


def helper_errors(workdir: Path) -> None:
    """Squid's templates plus ERR_ICAPFILTER_BLOCKED in ``workdir``/errors (the
    helper's deny_info page), and the work folder readable by Squid's user, who
    runs the helper."""
    errors = workdir / "errors"
    if errors.exists():
        shutil.rmtree(errors)
    shutil.copytree("/usr/share/squid/errors/templates", errors)
    shutil.copy(ROOT / "icapfilter" / "templates" / "ERR_ICAPFILTER_BLOCKED", errors)
    subprocess.run(["chmod", "-R", "a+rwX", str(workdir)], check=False)


class IcapfilterHelper(Icapfilter):
    """``icapfilter squid-helper`` as Squid's external ACL helper (no ICAP at all),
    on the Redis store with the lists of the other scenarios; Squid answers a
    block with the ERR_ICAPFILTER_BLOCKED template (403). Squid caches each
    answer per client, user and URL for the recorded ``ttl``."""

    url_only = True
    services = ("", "")

    def __init__(
        self, workdir: Path, lists: Path, phrases: PhraseSet, *, acl_cache: bool = True
    ) -> None:
        super().__init__(workdir, lists, phrases, redis=True)
        self.acl_cache = acl_cache
        self.name = "icapfilter squid-helper (Redis store, URLs only)"
        if not acl_cache:
            self.name = "icapfilter squid-helper, no ACL cache (Redis store, URLs only)"

    def _conf_text(self) -> str:
        text = (PEERS / "squid-icapfilter-helper.conf").read_text()
        if not self.acl_cache:
            # cache=0: Squid keeps no answer at all (external_acl::maybeCacheable),
            # so the helper sees every request, as squidGuard does
            text = re.sub(r"\bttl=\d+ negative_ttl=\d+", "ttl=0 negative_ttl=0 cache=0", text)
        return text

    def squid_conf(self) -> str:
        return fill(
            self._conf_text(),
            HELPER=self.command,
            CONFIG=self.workdir / "icapfilter-helper.toml",
            ERRORS=self.workdir / "errors",
        )

    def start_filter(self) -> None:
        w = self.workdir
        redis_url = self.start_redis()
        self.command = helper_command()
        (w / "icapfilter-helper.toml").write_text(
            fill((PEERS / "icapfilter-helper.toml").read_text(), REDIS_URL=redis_url)
        )
        helper_errors(w)
        ttl = re.search(r"\bttl=(\d+)", self._conf_text())
        self.note = (
            f"Squid external ACL cache ttl={ttl.group(1) if ttl else '?'} s: a client's "
            "repeated URL is answered from Squid's cache, not by the helper; no body scanning"
            if self.acl_cache
            else "Squid external ACL cache off (ttl=0 cache=0): the helper answers every "
            "request, as squidGuard does; no body scanning"
        )

    def filter_pids(self) -> list[int]:
        """The helper children (and Redis): the filter's CPU, not Squid's."""
        return _helper_children(self.squid) + super().filter_pids()


class IcapfilterHelperWarm(Icapfilter):
    """Learned mode without REQMOD: ``icapfilter squid-helper`` answers the URL
    decision and ``learned-clean`` (docs/squid-helper.md), ``icapfilter serve``
    (Redis store, learned mode on) scans in RESPMOD the pages not learned yet.
    A page learned clean makes no ICAP transaction at all."""

    services = ("", "respmod")
    direct = False  # the same `icapfilter serve` as the WARM row: its direct load says it all
    prime_settle = 61.0  # negative_ttl=60 of squid-icapfilter-helper-learned.conf, plus 1 s

    def __init__(self, workdir: Path, lists: Path, phrases: PhraseSet) -> None:
        super().__init__(workdir, lists, phrases, redis=True, warm=True)
        self.name = "icapfilter WARM (squid-helper + RESPMOD, Redis store, learned)"
        self.note = (
            "the squid-helper decides URLs and answers learned-clean (Squid external ACL cache "
            "ttl=60 s, negative_ttl=60 s); REQMOD off; RESPMOD only for pages not learned clean"
        )

    def squid_conf(self) -> str:
        extra = fill(
            (PEERS / "squid-icapfilter-helper-learned.conf").read_text(),
            HELPER=self.command,
            CONFIG=self.workdir / "icapfilter.toml",
            ERRORS=self.workdir / "errors",
        )
        text = super().squid_conf()
        return re.sub(r"^(http_access )", lambda m: extra + m.group(1), text, count=1, flags=re.M)

    def start_filter(self) -> None:
        self.command = helper_command()
        super().start_filter()
        helper_errors(self.workdir)

    def filter_pids(self) -> list[int]:
        """The helper children, `icapfilter serve` and Redis: the filter's CPU."""
        return _helper_children(self.squid) + super().filter_pids()
