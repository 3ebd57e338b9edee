"""Equal work for every filter: a seeded UT1-layout blacklist, the stock English
phrase lists of e2guardian, a seeded corpus of pages and the URL mix.

Everything here is deterministic for a given seed, so two runs (or two machines)
measure the same work.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

TLDS = ["com", "net", "org", "de", "fr", "ru", "info", "biz", "co.uk", "com.br", "pl", "it", "nl"]
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
CATEGORIES = [
    "adult",
    "gambling",
    "malware",
    "phishing",
    "drugs",
    "violence",
    "warez",
    "dating",
    "games",
    "proxy",
    "aggressive",
    "hacking",
    "chat",
    "shopping",
    "social_networks",
    "press",
    "sports",
    "audio-video",
    "publicite",
    "cryptojacking",
]
LANGUAGES = (
    "chinese",
    "danish",
    "dutch",
    "french",
    "german",
    "italian",
    "japanese",
    "malay",
    "norwegian",
    "polish",
    "portuguese",
    "russian",
    "spanish",
    "swedish",
    "ukenglish",
)

BENIGN = """the of and to in is that for it as was with be by on not he this are or his from at
which but have an they you were her she there been one all we their has would when what if more
no out so said can who about them some could him into its then two time only new other these
than first any may after most also made over such where years through back much before must right
good well still own see men work long get here between both life being under never day same
another know while last might us great old year off come since against go came around three
small however home thing where every under garden train river bridge market weather coffee
bicycle museum library village harbour orchard meadow lantern kitchen window letter autumn
spring summer winter morning evening journey history science music theatre picture season
mountain valley forest island country engine railway station ticket platform carriage signal
timetable holiday visitor council school teacher student lesson chapter answer question number
""".split()


@dataclass
class Phrase:
    text: str  # lowercased phrase with e2guardian's literal spaces
    weight: int | None  # None: banned or exception
    kind: str  # "banned", "weighted", "exception"
    source: str


@dataclass
class PhraseSet:
    banned: list[Path]
    weighted: list[Path]
    exception: list[Path]
    phrases: list[Phrase] = field(default_factory=list)  # single phrases (no combinations)
    combinations: int = 0


def english_phrase_files(lists: Path) -> list[Path]:
    """e2guardian's English phrase lists (same rule as tests/e2g_lists.py)."""
    out = []
    for f in sorted((lists / "phraselists").rglob("*")):
        if not f.is_file():
            continue
        rel = str(f.relative_to(lists / "phraselists")).lower()
        if any(lang in rel for lang in LANGUAGES):
            continue
        out.append(f)
    return out


def load_phrases(lists: Path) -> PhraseSet:
    files = english_phrase_files(lists)
    exception = [f for f in files if "exception" in f.name]
    banned = [f for f in files if "banned" in f.name]
    weighted = [f for f in files if f not in exception and f not in banned]
    ps = PhraseSet(banned, weighted, exception)
    for kind, group in (("banned", banned), ("weighted", weighted), ("exception", exception)):
        for f in group:
            for line in f.read_bytes().decode("latin-1").splitlines():
                line = line.strip()
                if not line.startswith("<"):
                    continue
                items = re.findall(r"<([^<>]*)>", line)
                weight = None
                if kind == "weighted" and items and re.fullmatch(r"-?\d+", items[-1].strip()):
                    weight = int(items.pop().strip())
                if not items:
                    continue
                if len(items) > 1:
                    ps.combinations += 1
                    continue
                text = re.sub(r" +", " ", items[0].lower())
                if not text.strip():
                    continue
                ps.phrases.append(Phrase(text, weight, kind, f"{f.parent.name}/{f.name}"))
    return ps


# ---------------------------------------------------------------- blacklist


def _label(rng: random.Random) -> str:
    return "".join(rng.choices(ALPHABET, k=rng.randint(4, 14)))


@dataclass
class Hosts:
    clean: list[str]
    listed_domain: list[str]  # host names whose parent domain is listed
    listed_url: list[tuple[str, str]]  # (host, listed path prefix)

    def all(self) -> list[str]:
        return self.clean + self.listed_domain + [h for h, _ in self.listed_url]


def make_hosts(n: int, seed: int) -> Hosts:
    """``n`` origin host names, about 10% listed (half by domain, half by URL)."""
    rng = random.Random(seed + 1)
    names = []
    seen = set()
    while len(names) < n:
        base = f"{rng.choice(BENIGN)}{rng.choice(BENIGN)}{rng.randrange(1000)}.test"
        if base in seen:
            continue
        seen.add(base)
        names.append(base)
    listed = n // 10
    return Hosts(
        clean=[f"www.{h}" for h in names[listed:]],
        listed_domain=[f"www.{h}" for h in names[: listed // 2]],
        listed_url=[(f"www.{h}", "/item") for h in names[listed // 2 : listed]],
    )


def write_blacklist(root: Path, entries: int, hosts: Hosts, seed: int) -> dict:
    """UT1 layout under ``root``: <category>/domains and <category>/urls."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(CATEGORIES))]
    files: dict[tuple[str, str], list[str]] = {}
    for h in hosts.listed_domain:
        files.setdefault((rng.choices(CATEGORIES, weights)[0], "domains"), []).append(h[4:])
    for h, path in hosts.listed_url:
        files.setdefault((rng.choices(CATEGORIES, weights)[0], "urls"), []).append(h[4:] + path)
    n = len(hosts.listed_domain) + len(hosts.listed_url)
    while n < entries:
        host = f"{_label(rng)}.{rng.choice(TLDS)}"
        if rng.random() < 0.2:
            host = f"{_label(rng)}.{host}"
        cat = rng.choices(CATEGORIES, weights)[0]
        if rng.random() < 0.85:
            files.setdefault((cat, "domains"), []).append(host)
        else:
            path = "/" + "/".join(_label(rng) for _ in range(rng.randint(1, 3)))
            files.setdefault((cat, "urls"), []).append(host + path)
        n += 1
    for cat in CATEGORIES:  # every category has both files (peers' tools expect them)
        for kind in ("domains", "urls"):
            folder = root / cat
            folder.mkdir(parents=True, exist_ok=True)
            lines = files.get((cat, kind), [])
            (folder / kind).write_text("\n".join(lines) + ("\n" if lines else ""))
    return {"entries": n, "categories": len(CATEGORIES)}


# ---------------------------------------------------------------- corpus


@dataclass
class Item:
    id: int
    kind: str  # html, gzip, image, json
    label: str  # clean, over, banned
    ctype: str
    body: bytes  # as served (gzip-encoded for kind gzip)
    text: bytes  # decoded body
    path: str

    @property
    def encoding(self) -> str | None:
        return "gzip" if self.kind == "gzip" else None


def _safe_vocabulary(rng: random.Random, phrases: list[Phrase]) -> tuple[list[str], list[float]]:
    """Words that cannot match any phrase (nor be part of a multi-word phrase)."""
    cores = {p.text.strip() for p in phrases}
    tokens = {t for c in cores for t in re.split(r"[^a-z0-9]+", c) if t}
    singles = [c for c in cores if " " not in c and len(c) >= 2]

    def ok(w: str) -> bool:
        return w not in tokens and not any(s in w for s in singles)

    words = [w for w in BENIGN if ok(w)]
    letters = "etaoinshrdlcumwfgypbvk"
    while len(words) < 2500:
        w = "".join(rng.choice(letters) for _ in range(rng.randint(3, 10)))
        if ok(w):
            words.append(w)
    return words, [1.0 / (i + 1) ** 0.8 for i in range(len(words))]


def _page(rng: random.Random, words, weights, size: int, inject: list[str]) -> bytes:
    """An HTML page of about ``size`` bytes; ``inject`` phrases go into the first 20 KB
    of article text (so every filter sees them before any hold limit)."""

    def sentence(n: int) -> str:
        s = " ".join(rng.choices(words, weights, k=n))
        return s[0].upper() + s[1:] + rng.choice([".", ".", "!", "?"])

    style = "".join(
        f".c{i} {{ color: #{rng.randrange(16**6):06x}; padding: {i}px; }}\n"
        for i in range(min(60, size // 1500 + 5))
    )
    script = "".join(
        f"function f{i}(a, b) {{ if (a < b && b > {i}) {{ return a + b; }} }}\n"
        for i in range(min(120, size // 1000 + 5))
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{sentence(5)}</title><style>{style}</style>",
        f"<script>{script}</script></head><body><nav><ul>",
        *(f"<li><a href='/item/{rng.randrange(999)}'>{sentence(2)}</a></li>" for i in range(10)),
        "</ul></nav><article>",
    ]
    total = sum(map(len, parts))
    pending = list(inject)
    while total < size - 40:
        sents = [sentence(rng.randint(6, 18)) for _ in range(rng.randint(3, 6))]
        if pending and total > 1500:
            sents.insert(1, f" {pending.pop()} ")
        para = " ".join(sents)
        if rng.random() < 0.3:
            para = para.replace(" ", " <em>", 1) + "</em>"
        if rng.random() < 0.3:
            para += " &amp; caf&eacute; &lt;note&gt; &#169;"
        p = f"<p class='c{rng.randrange(9)}'>{para}</p>\n"
        parts.append(p)
        total += len(p)
    parts.append("</article></body></html>\n")
    return "".join(parts).encode()


def make_corpus(n: int, phrases: PhraseSet, seed: int) -> list[Item]:
    rng = random.Random(seed + 2)
    words, weights = _safe_vocabulary(rng, phrases.phrases)
    heavy = [
        p
        for p in phrases.phrases
        if p.kind == "weighted"
        and p.weight
        and p.weight >= 20
        and p.text.isascii()
        and p.text.strip().replace(" ", "").isalpha()
        and "pornography" in p.source
    ]
    banned = [
        p
        for p in phrases.phrases
        if p.kind == "banned"
        and p.text.isascii()
        and p.text.strip().replace(" ", "").isalnum()
        and "pornography" in p.source
    ]
    items: list[Item] = []
    for i in range(n):
        r = rng.random()
        kind = "html" if r < 0.70 else "gzip" if r < 0.80 else "image" if r < 0.90 else "json"
        size = int(min(500_000, max(2_000, rng.lognormvariate(11.0, 0.9))))  # median ~60 KB
        label = "clean"
        if kind in ("html", "gzip"):
            r = rng.random()
            inject: list[str] = []
            if r < 0.15:
                label = "over"
                total = 0
                while total <= 120:  # well over the limit of 50, counted once each
                    p = rng.choice(heavy)
                    if p.text not in inject:
                        inject.append(p.text)
                        total += p.weight or 0
            elif r < 0.17:
                label = "banned"
                inject = [rng.choice(banned).text]
            text = _page(rng, words, weights, size, inject)
            body = gzip.compress(text, 6, mtime=0) if kind == "gzip" else text
            items.append(
                Item(i, kind, label, "text/html; charset=utf-8", body, text, f"/item/{i}.html")
            )
        elif kind == "image":
            body = b"\x89PNG\r\n\x1a\n" + rng.randbytes(size // 4)
            items.append(Item(i, kind, label, "image/png", body, body, f"/item/{i}.png"))
        else:
            rows = [
                {"id": j, "name": " ".join(rng.choices(words, weights, k=3)), "value": rng.random()}
                for j in range(size // 80)
            ]
            body = json.dumps({"rows": rows}).encode()
            items.append(Item(i, kind, label, "application/json", body, body, f"/item/{i}.json"))
    return items


def url_mix(
    items: list[Item], hosts: Hosts, port: int, n: int, seed: int, max_body: int | None = None
) -> list[str]:
    """``n`` request URLs: 90% on unlisted hosts, 10% on listed ones."""
    rng = random.Random(seed + 3)
    pool = [it for it in items if max_body is None or len(it.body) <= max_body]
    out = []
    for _ in range(n):
        it = rng.choice(pool)
        r = rng.random()
        if r < 0.05:
            host = rng.choice(hosts.listed_domain)
        elif r < 0.10:
            host = rng.choice(hosts.listed_url)[0]
        else:
            host = rng.choice(hosts.clean)
        out.append(f"http://{host}{'' if port == 80 else f':{port}'}{it.path}")
    return out


def describe(items: list[Item]) -> str:
    sizes = sorted(len(it.text) for it in items if it.kind in ("html", "gzip"))
    html = [it for it in items if it.kind in ("html", "gzip")]
    return (
        f"{len(items)} items: {len(html)} HTML ({sum(it.kind == 'gzip' for it in items)} gzip), "
        f"{sum(it.kind == 'image' for it in items)} PNG, {sum(it.kind == 'json' for it in items)} "
        f"JSON; HTML sizes {sizes[0] // 1024}-{sizes[-1] // 1024} KB, median "
        f"{sizes[len(sizes) // 2] // 1024} KB; {sum(it.label == 'over' for it in html)} over "
        f"the limit, {sum(it.label == 'banned' for it in html)} with a banned phrase"
    )
