"""A seeded generator of tricky list entries and request URLs, and a driver
for squidGuard 1.6 as a url_rewrite helper, for the differential test
(tests/integration/test_squidguard_parity.py).

Every query carries a *class* naming the trick it plays. The verdicts of
squidGuard and icapfilter are compared per class: a class may only disagree
in the direction docs/lists.md ("Differences from squidGuard") documents for
it. Run ``python -m tests.sgparity`` for the table of one run.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

CATEGORIES = ("adult", "gamble", "misc")
TLDS = ("com", "net", "org", "de", "info")
WORDS = ("deep", "nest", "odds", "pix", "cam", "bet", "shop", "red", "blue", "star")

#: Classes where verdicts differ on purpose, with who blocks. Kept in step
#: with the table in docs/lists.md by the test.
SQUIDGUARD_BLOCKS = "squidGuard blocks, icapfilter allows"
ICAPFILTER_BLOCKS = "icapfilter blocks, squidGuard allows"
DIFFERENCES = {
    "url-no-boundary": SQUIDGUARD_BLOCKS,
    "userinfo-encoded-slash": SQUIDGUARD_BLOCKS,
    "userinfo-encoded-slash-listed": ICAPFILTER_BLOCKS,
    "domain-suffix-lookalike": SQUIDGUARD_BLOCKS,
    "ip-spelling": ICAPFILTER_BLOCKS,
    "ip-mapped-ipv6": ICAPFILTER_BLOCKS,
    "ipv6-entry": ICAPFILTER_BLOCKS,
    "idn-punycode-request": ICAPFILTER_BLOCKS,
    "idn-unicode-entry-request": ICAPFILTER_BLOCKS,
    "entry-www-domain": ICAPFILTER_BLOCKS,
    "entry-prefixed-url": ICAPFILTER_BLOCKS,
    "entry-not-normalized": ICAPFILTER_BLOCKS,
    "url-neighbour-key": ICAPFILTER_BLOCKS,
    "url-dot-segments": ICAPFILTER_BLOCKS,
    "url-www-request-stacked": ICAPFILTER_BLOCKS,
    "domain-trailing-dot-port": ICAPFILTER_BLOCKS,
    "unparseable-host": ICAPFILTER_BLOCKS,
}


@dataclass(frozen=True)
class Query:
    url: str
    cls: str
    method: str = "GET"


@dataclass
class Corpus:
    """The list files (path relative to the list root -> lines) and the queries."""

    files: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    queries: list[Query] = field(default_factory=list)

    def add(self, url: str, cls: str, method: str = "GET") -> None:
        self.queries.append(Query(url, cls, method))

    def write(self, root: Path) -> None:
        for rel, lines in self.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _name(rng: random.Random, used: set[str]) -> str:
    while True:
        host = (f"{rng.choice(WORDS)}{rng.randrange(1000)}-{rng.choice(CATEGORIES)}"
                f".{rng.choice(TLDS)}")
        if host not in used:
            used.add(host)
            return host


def _segment(rng: random.Random) -> str:
    return rng.choice(("a", "b", "c", "pics", "x1", "gal", "vid", "index.php", "p"))


def _ipv4_spellings(address: int, rng: random.Random) -> list[str]:
    """Forms a browser or curl accepts for one address (WHATWG IPv4 parser)."""
    octets = [(address >> s) & 0xFF for s in (24, 16, 8, 0)]
    styles = ("{:d}", "0{:o}", "0x{:X}")
    return [
        str(address),
        f"0x{address:x}",
        ".".join(f"0{o:o}" for o in octets),
        ".".join(f"0x{o:x}" for o in octets),
        f"{octets[0]}.{octets[1]}.{(octets[2] << 8) | octets[3]}",
        f"{octets[0]}.{address & 0xFFFFFF}",
        ".".join(rng.choice(styles).format(o) for o in octets),
    ]


def generate(seed: int = 17, scale: int = 40) -> Corpus:
    """Entries of every tricky kind in ``scale``-sized groups and the queries
    that probe them. Same seed, same corpus."""
    rng = random.Random(seed)
    corpus = Corpus()
    used: set[str] = set()

    def domain_entry(host: str, cat: str | None = None) -> None:
        corpus.files[f"{cat or rng.choice(CATEGORIES)}/domainlist"].append(host)

    def url_entry(entry: str, cat: str | None = None) -> None:
        corpus.files[f"{cat or rng.choice(CATEGORIES)}/urllist"].append(entry)

    # -- domain entries ------------------------------------------------------
    for _ in range(scale):
        host = _name(rng, used)
        domain_entry(host)
        corpus.add(f"http://{host}/", "domain-exact")
        corpus.add(f"http://sub{rng.randrange(9)}.{host}/{_segment(rng)}", "domain-subdomain")
        corpus.add(f"https://{rng.choice(('www', 'www2', 'web', 'ftp'))}.{host}/x",
                   "domain-www-request")
        corpus.add(f"http://{host.upper()}/{_segment(rng).upper()}", "domain-case")
        corpus.add(f"http://user:pw@{host}:8080/x?y=1", "domain-port-userinfo")
        corpus.add(f"{host}:443", "domain-connect", "CONNECT")
        corpus.add(f"http://{host}./x", "domain-trailing-dot")
        corpus.add(f"http://{host}.:80/x", "domain-trailing-dot-port")
        corpus.add(f"http://x{host}/", "domain-prefix-lookalike")
        corpus.add(f"http://{host}.evil.example/", "domain-suffix-lookalike")
        encoded = "".join(f"%{ord(c):02x}" if c.isalpha() and rng.random() < 0.3 else c
                          for c in host)
        corpus.add(f"http://{encoded}/", "domain-percent-host")
        corpus.add(f"http://evil.example%2F@{host}/", "userinfo-encoded-slash-listed")
        corpus.add(f"http://{host}%2F@clean{rng.randrange(99)}.example/", "userinfo-encoded-slash")
    for _ in range(scale // 4):
        host = _name(rng, used)
        domain_entry("www." + host)
        corpus.add(f"http://www.{host}/", "domain-exact")
        corpus.add(f"http://{host}/", "entry-www-domain")
        host = _name(rng, used)
        domain_entry(host.upper() + ".")
        corpus.add(f"http://{host}/", "entry-not-normalized")
    # -- IP entries --------------------------------------------------------------
    for i in range(scale // 4):
        address = (203 << 24) | (0 << 16) | (113 << 8) | (i * 7 + 1)
        dotted = f"203.0.113.{address & 0xFF}"
        domain_entry(dotted)
        corpus.add(f"http://{dotted}/", "ip-exact")
        corpus.add(f"http://{dotted}:8080/x", "ip-exact")
        for spelling in _ipv4_spellings(address, rng):
            corpus.add(f"http://{spelling}/", "ip-spelling")
        corpus.add(f"http://[::ffff:{dotted}]/", "ip-mapped-ipv6")
        corpus.add(f"http://[::ffff:{address >> 16:x}:{address & 0xFFFF:x}]/", "ip-mapped-ipv6")
        corpus.add(f"http://1.{dotted}/", "ip-five-parts")
        neighbour = (address & 0xFF) + 200 if (address & 0xFF) < 50 else 250
        corpus.add(f"http://203.0.113.{neighbour}/", "unlisted")
    for i in range(3):
        domain_entry(f"[2001:db8::{i + 1:x}]")
        corpus.add(f"http://[2001:db8:0::{i + 1:x}]/", "ipv6-entry")
        corpus.add(f"http://[2001:DB8::{i + 1:X}]:8443/x", "ipv6-entry")
    # -- IDN entries ----------------------------------------------------------
    for i in range(max(3, scale // 8)):
        unicode_host = f"straße-adult{i}.de"
        domain_entry(unicode_host, "adult")
        corpus.add(f"http://{unicode_host}/", "idn-unicode-request")
        corpus.add(f"http://xn--strae-adult{i}-{_puny_tail(i)}.de/", "idn-punycode-request")
        corpus.add(f"http://strasse-adult{i}.de/", "idn-2003-fold")
        puny_host = f"bücher{i}.de"
        domain_entry(f"xn--{puny_host.split('.')[0].encode('punycode').decode()}.de", "adult")
        corpus.add(f"http://{puny_host}/", "idn-unicode-entry-request")
        corpus.add(f"http://xn--{puny_host.split('.')[0].encode('punycode').decode()}.de/x",
                   "idn-punycode-exact")
    # -- URL entries --------------------------------------------------------------
    for _ in range(scale):
        host = _name(rng, used)
        depth = rng.randint(1, 3)
        path = "/" + "/".join(_segment(rng) for _ in range(depth))
        url_entry(host + path)
        corpus.add(f"http://{host}{path}", "url-exact")
        corpus.add(f"http://{host}{path}/more/x.html", "url-deeper")
        corpus.add(f"http://{host}{path}?x=1", "url-query-after")
        corpus.add(f"http://{host}{path};jsessionid=AB12", "url-semicolon")
        corpus.add(f"http://{host.upper()}{path.upper()}", "url-case")
        corpus.add(f"http://{rng.choice(('www', 'www3', 'web2', 'ftp', 'ftp1'))}.{host}{path}",
                   "url-www-request")
        corpus.add(f"http://www.ftp.{host}{path}", "url-www-request-stacked")
        corpus.add(f"http://{host}{path.replace('/', '%2F')}/z", "url-encoded-slash")
        corpus.add(f"http://{host}{path}x", "url-no-boundary")
        corpus.add(f"http://sub.{host}{path}", "url-subdomain")
        corpus.add(f"http://{host}/other{path}", "url-sibling")
        corpus.add(f"http://{host}/q/..{path}", "url-dot-segments")
        corpus.add(f"http://{host}/{path}//z", "url-double-slash")
    for _ in range(scale // 2):
        # a longer entry on the same host: squidGuard only compares the
        # neighbouring key, so requests under the shorter entry may pass it
        host = _name(rng, used)
        path = "/" + _segment(rng)
        url_entry(host + path)
        url_entry(f"{host}{path}/zz/yy")
        corpus.add(f"http://{host}{path}/q", "url-neighbour-key")
        corpus.add(f"http://{host}{path}/zz/yy/q", "url-deeper")
    for _ in range(scale // 2):
        host = _name(rng, used)
        base = f"/index.php?page={rng.choice(WORDS)}&sport="
        url_entry(host + base)
        corpus.add(f"http://{host}{base}", "url-exact")
        for tail in ("&extra=1", "?x=1", ";jsessionid=AB12", "football"):
            corpus.add(f"http://{host}{base}{tail}", "url-trailing-eq")
        corpus.add(f"http://{host}{base.replace('?', '%3F').replace('&', '%26')}&x=1",
                   "url-encoded-query")
        corpus.add(f"http://{host}/index.php?page=other", "url-sibling")
    for _ in range(scale // 4):
        host = _name(rng, used)
        url_entry(f"ftp.{host}/z")
        corpus.add(f"http://www.ftp.{host}/z", "url-www-request")
        corpus.add(f"http://ftp.{host}/z/y", "url-deeper")
        corpus.add(f"http://{host}/z", "entry-prefixed-url")
    for i in range(scale // 8):
        dotted = f"198.51.100.{i + 1}"
        url_entry(f"{dotted}/admin")
        corpus.add(f"http://{dotted}/admin/x", "url-deeper")
        corpus.add(f"http://{int.from_bytes(bytes(map(int, dotted.split('.'))), 'big')}/admin",
                   "ip-spelling")
    # -- unlisted and unparseable ----------------------------------------------------------
    for _ in range(scale * 2):
        host = _name(rng, set())
        corpus.add(f"http://clean-{host}/{_segment(rng)}", "unlisted")
    for bad in ("http://1.2.3.4.5/", "http://foo.09/", "http://%ff%fe.example/",
                "http://a..b.example/", "http://host.example:99999/"):
        corpus.add(bad, "unparseable-host")
    return corpus


def _puny_tail(i: int) -> str:
    label = f"straße-adult{i}".encode("punycode").decode()
    return label.rsplit("-", 1)[1]


# -- squidGuard --------------------------------------------------------------------


def squidguard_available() -> bool:
    return shutil.which("squidGuard") is not None


def squidguard_verdicts(root: Path, queries: list[Query], workdir: Path,
                        timeout: float = 60.0) -> list[bool]:
    """True where squidGuard 1.6 (plain-text lists under ``root``) redirects."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "log").mkdir(exist_ok=True)
    dests = sorted({p.parent.name for p in root.glob("*/*list")})
    lines = [f"dbhome {root}", f"logdir {workdir / 'log'}"]
    for dest in dests:
        lines.append(f"dest {dest} {{")
        for kind in ("domainlist", "urllist"):
            if (root / dest / kind).exists():
                lines.append(f"  {kind} {dest}/{kind}")
        lines.append("}")
    lines += ["acl {", "  default {", "    pass " + " ".join(f"!{d}" for d in dests) + " all",
              "    redirect http://blocked.invalid/?u=%u", "  }", "}"]
    conf = workdir / "squidGuard.conf"
    conf.write_text("\n".join(lines) + "\n")
    request = "".join(f"{q.url} 192.0.2.1/- - {q.method}\n" for q in queries)
    done = subprocess.run(["squidGuard", "-c", str(conf)], input=request.encode(),
                          capture_output=True, timeout=timeout, check=True)
    replies = done.stdout.decode("utf-8", "replace").splitlines()
    if len(replies) != len(queries):
        raise RuntimeError(f"squidGuard answered {len(replies)} of {len(queries)} lines: "
                           f"{done.stderr.decode(errors='replace')[-500:]}")
    return [reply.startswith("OK") for reply in replies]


def compare(sg: list[bool], ours: list[bool], queries: list[Query]) -> dict[str, Counter]:
    """Per class: counts of (squidGuard blocks, icapfilter blocks)."""
    table: dict[str, Counter] = defaultdict(Counter)
    for s, o, q in zip(sg, ours, queries, strict=True):
        table[q.cls][(s, o)] += 1
    return table


def format_table(table: dict[str, Counter]) -> str:
    rows = ["| class | both block | both allow | only squidGuard blocks | only icapfilter blocks |",
            "| --- | --- | --- | --- | --- |"]
    for cls in sorted(table):
        c = table[cls]
        rows.append(f"| `{cls}` | {c[(True, True)]} | {c[(False, False)]} | "
                    f"{c[(True, False)]} | {c[(False, True)]} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - a manual report
    import json
    import sys
    import tempfile

    from click.testing import CliRunner

    from icapfilter.commands.check_cmd import check

    with tempfile.TemporaryDirectory() as tmp:
        corpus = generate()
        lists = Path(tmp) / "lists"
        corpus.write(lists)
        sg = squidguard_verdicts(lists, corpus.queries, Path(tmp) / "sg")
        result = CliRunner().invoke(check, ["--lists", str(lists), "--json", "-"],
                                    input="".join(q.url + "\n" for q in corpus.queries))
        ours = [json.loads(line)["verdict"] == "block" for line in result.stdout.splitlines()]
        print(f"{len(corpus.queries)} queries", file=sys.stderr)
        print(format_table(compare(sg, ours, corpus.queries)))
