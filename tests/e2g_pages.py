"""Pages for the e2guardian differential tests, drawn from the real phrase lists.

`generate_pages(lists_dir)` makes a seeded, repeatable set (a few hundred
pages) covering what the issue names: clean prose, weighted pages around the
limit, banned, exceptions, combinations, phrases split by tags, entities,
line breaks and space runs, case, text hidden in script, style, comments,
attributes, CDATA and srcdoc, punctuation in list entries, word boundaries,
negative weights, Latin-1 / UTF-8 / cp1251 / ISO-8859-2 pages with and
without a charset declaration, and text/plain. `page_strategy(pool)` is a
hypothesis strategy building more pages from list phrases and markup.

Every page carries its class and the documented default-mode differences it
exercises (`may_differ`): CHARREF when a phrase is written with character
references, UTF8_FOLD when a UTF-8 page carries a phrase with a character
UTF-8 writes in two bytes (Latin accents, Polish, Cyrillic...). A page
with neither must get e2guardian's verdict in every mode.

The lists are read here with a parser of our own, deliberately simple and
independent of icapfilter's: it only needs plausible phrases and their
weights; which of them e2guardian really matches is the oracle's business.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick

CHARREF = "charref"
UTF8_FOLD = "utf8_fold"
DOCUMENTED = (CHARREF, UTF8_FOLD)

LIMIT = 50
MAX_PAGE = 60 * 1024
# Page bytes e2guardian turns into spaces (besides those below 0x2E).
_MAPPED_PUNCT = ":;?[\\]^_`"
_LIVE_RE = re.compile(r"^[a-z0-9 ]+$")


@dataclass(frozen=True)
class Page:
    name: str
    klass: str
    data: bytes
    content_type: str = "text/html"
    may_differ: frozenset[str] = frozenset()
    note: str = ""

    def __repr__(self) -> str:  # pytest ids and failure output stay short
        return f"Page({self.name!r}, {self.klass!r}, {len(self.data)} bytes)"


@dataclass(frozen=True)
class Entry:
    """One list line as written: its `<...>` groups and trailing weight."""

    parts: tuple[str, ...]  # decoded with the file's encoding, untrimmed
    weight: int | None
    percent: bool
    kind: str  # "banned", "weighted", "exception"
    encoding: str  # "ascii", "utf-8", "latin-1", "cp1251", "iso-8859-2"
    source: str

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.parts)

    @property
    def combination(self) -> bool:
        return len(self.parts) > 1

    @property
    def live_ascii(self) -> bool:
        """ASCII letters, digits and spaces only: an entry e2guardian can match."""
        return all(_LIVE_RE.match(t.lower()) for t in self.texts) and all(self.texts)


# --- reading the lists --------------------------------------------------------------

_GROUP_RE = re.compile(r"<([^<>]*)>")
_WEIGHT_RE = re.compile(r"^\s*(-?\d+)(%?)\s*$")
_CLEAN_RE = re.compile(r"^<[^<>]*>(\s*,\s*<[^<>]*>)*(\s*<\s*-?\d+%?\s*>)?\s*$")
_INCLUDE_RE = re.compile(r"^\s*\.Include<([^>]+)>")


def _file_encoding(data: bytes, path: Path) -> str:
    if all(b < 0x80 for b in data):
        return "ascii"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    name = str(path).lower()
    if "russian" in name or "1251" in name:
        return "koi8-r" if "koi8" in name else "cp1251"
    if "polish" in name:
        return "iso-8859-2"
    if "japanese" in name:
        return "euc-jp"
    return "latin-1"


def _parse_file(path: Path, kind: str, lists_dir: Path, seen: set[Path],
                out: list[Entry]) -> None:
    path = _resolve(path, lists_dir)
    if path in seen or not path.is_file():
        return
    seen.add(path)
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    enc = _file_encoding(data, path)
    text = data.decode(enc if enc != "ascii" else "latin-1", errors="replace")
    for no, line in enumerate(text.splitlines(), 1):
        m = _INCLUDE_RE.match(line)
        if m:
            _parse_file(Path(m.group(1)), kind, lists_dir, seen, out)
            continue
        s = line.strip()
        if not s.startswith("<"):
            continue
        s = re.sub(r">\s*#.*$", ">", s)
        if not _CLEAN_RE.match(s):
            # read as e2guardian reads it is the engine's business; the page
            # generator only keeps its words, for pages that test the reading
            words = [w for w in re.findall(r"[^<>,]+", s)
                     if w.strip() and not _WEIGHT_RE.match(w)]
            if words:
                out.append(Entry(tuple(words), None, False, "quirk", enc, f"{path.name}:{no}"))
            continue
        groups = _GROUP_RE.findall(s)
        if not groups:
            continue
        weight, percent = None, False
        w = _WEIGHT_RE.match(groups[-1])
        if w and len(groups) > 1:
            groups = groups[:-1]
            # "< nakna brdar > <40>": e2guardian reads a weight after a space as
            # no weight at all, so the entry is banned
            if not re.search(r">\s+<\s*-?\d+%?\s*>\s*$", s):
                weight, percent = int(w.group(1)), bool(w.group(2))
        # e2guardian decides by the entry: a weight makes it weighted in any file, and
        # an entry without one is banned even in a weighted list
        ekind = "weighted" if weight is not None else ("banned" if kind == "weighted" else kind)
        out.append(Entry(tuple(groups), weight, percent, ekind, enc, f"{path.name}:{no}"))


def _resolve(path: Path, lists_dir: Path) -> Path:
    if path.is_file():
        return path
    s = str(path)
    if "/lists/" in s:
        return lists_dir / s.split("/lists/", 1)[1]
    return path


def read_entries(lists_dir: Path) -> list[Entry]:
    """Entries of bannedphraselist, weightedphraselist and exceptionphraselist."""
    out: list[Entry] = []
    seen: set[Path] = set()
    for name, kind in (("bannedphraselist", "banned"), ("weightedphraselist", "weighted"),
                       ("exceptionphraselist", "exception")):
        _parse_file(lists_dir / name, kind, lists_dir, seen, out)
    return out


# --- an approximate e2guardian matcher, to build pages with a known score -----------

def e2g_fold(text: str) -> str:
    """ASCII lowercase and e2guardian's punctuation-to-space mapping (approximate)."""
    out = []
    for c in text.lower():
        o = ord(c)
        out.append(" " if o < 0x2E or c in _MAPPED_PUNCT else c)
    return "".join(out)


class Pool:
    """Phrases of the loaded lists sorted by the use a page generator has for them."""

    def __init__(self, lists_dir: Path) -> None:
        self.lists_dir = Path(lists_dir)
        self.entries = read_entries(self.lists_dir)
        live = [e for e in self.entries if e.live_ascii]
        singles = [e for e in live if not e.combination]
        combos = [e for e in live if e.combination]
        # every live pattern, for the approximate matcher
        self._automaton = ahocorasick.Automaton()
        self._weights: dict[str, int] = {}
        for e in live:
            for t in e.parts:
                key = t.lower()
                self._automaton.add_word(key, key)
            if not e.combination and e.kind == "weighted" and e.weight is not None:
                key = e.parts[0].lower()
                self._weights[key] = max(self._weights.get(key, -10**9), e.weight)
        self._automaton.make_automaton()
        combo_parts = {t.lower() for e in combos for t in e.parts}
        self.combo_parts = combo_parts

        def weighted(e: Entry) -> bool:
            return e.kind == "weighted" and e.weight is not None and not e.percent

        self.weighted = [e for e in singles if weighted(e) and e.weight and e.weight > 0]
        self.negative = [e for e in singles if weighted(e) and e.weight and e.weight < 0]
        self.banned = [e for e in self.entries if e.kind == "banned" and not e.combination
                       and all(e.texts) and not any(ord(c) < 0x2E and c != " "
                                                     or c in _MAPPED_PUNCT for c in e.texts[0])]
        self.exceptions = [e for e in singles if e.kind == "exception"]
        self.quirks = [e for e in self.entries if e.kind == "quirk"]
        self.combos = [e for e in combos if weighted(e) and e.weight and e.weight > 0]
        self.negative_combos = [e for e in combos if weighted(e) and e.weight and e.weight < 0]
        self.banned_combos = [e for e in combos if e.kind == "banned"]
        self.exception_combos = [e for e in combos if e.kind == "exception"]
        self.boundary = [e for e in self.weighted
                         if e.parts[0].startswith(" ") or e.parts[0].endswith(" ")]
        # entries with punctuation e2guardian maps on the page (dead) or keeps (. = @ ...)
        self.punct = [e for e in self.entries
                      if e.encoding == "ascii" and not e.live_ascii
                      and any(re.search(r"[^a-zA-Z0-9 ]", t) for t in e.texts)]
        self.nonascii: dict[str, list[Entry]] = {}
        for e in self.entries:
            if (e.encoding != "ascii" and not e.combination and e.kind == "weighted"
                    and (e.weight or 0) > 0 and any(ord(c) > 127 for c in e.texts[0])):
                self.nonascii.setdefault(e.encoding, []).append(e)
        # weighted phrases that contain no other pattern and are no combination's
        # part: a page made of them and clean filler scores exactly their sum
        self.isolated = [e for e in self.weighted + self.negative
                         if self.hits(" " + e.texts[0].lower() + " ") == {e.parts[0].lower()}
                         and e.parts[0].lower() not in combo_parts and e.weight
                         and -30 <= e.weight <= 60]
        self.filler = [w for w in _FILLER_WORDS if not self.hits(f" {w} ")]

    def hits(self, text: str) -> set[str]:
        """Live patterns found in `text` after e2guardian's folding (approximate)."""
        folded = e2g_fold(text)
        return {v for _, v in self._automaton.iter(folded)}

    def approx_score(self, text: str) -> int:
        return sum(self._weights.get(h, 0) for h in self.hits(" " + text + " "))


_FILLER_WORDS = """
the a of and to in is was for on with as by at from this that it be are were have has had
not but or which we they you he she his her their our one two three four five many more
most other some such only also time year people way day man thing world life hand part
child eye woman place week case point government company number group problem fact
river garden window table chair kitchen bread coffee morning evening weather rain cloud
mountain valley forest lake bridge road train station ticket journey holiday summer
winter spring autumn colour green yellow purple orange paper pencil letter library book
chapter page story history science music piano violin painting museum gallery theatre
village town city market shop price bicycle engine tractor farmer harvest apple pear
cherry plum carrot potato onion garlic pepper salt sugar butter cheese recipe dinner
lunch breakfast friend neighbour teacher student lesson homework school question answer
walk run swim climb read write draw sing dance cook bake plant grow build repair clean
quiet bright gentle careful simple useful ancient modern early late happy calm warm cold
""".split()

_SENTENCE_ENDS = (".", ".", ".", "!", "?", ",")


# --- building pages -----------------------------------------------------------------

def _html(body: str, *, title: str = "A page", meta: str = "", doctype: bool = True) -> str:
    head = f"<head>{meta}<title>{title}</title></head>"
    dt = "<!DOCTYPE html>\n" if doctype else ""
    return f"{dt}<html>{head}\n<body>\n{body}\n</body></html>\n"


@dataclass
class _Builder:
    pool: Pool
    rnd: random.Random
    pages: list[Page] = field(default_factory=list)

    def words(self, n: int) -> str:
        return " ".join(self.rnd.choice(self.pool.filler) for _ in range(n))

    def prose(self, sentences: int = 4) -> str:
        out = []
        for _ in range(sentences):
            s = self.words(self.rnd.randint(5, 12))
            out.append(s[0].upper() + s[1:] + self.rnd.choice(_SENTENCE_ENDS))
        return " ".join(out)

    def para(self, inner: str) -> str:
        return f"<p>{self.prose(2)} {inner} {self.prose(1)}</p>"

    def add(self, klass: str, body: str | bytes, *, ct: str = "text/html",
            encoding: str = "ascii", may: Iterable[str] = (), note: str = "",
            html: bool = True, meta: str = "") -> None:
        if isinstance(body, bytes):
            data = body
        else:
            text = _html(body, meta=meta) if html else body
            try:
                data = text.encode(encoding)
            except UnicodeEncodeError:
                return
        if len(data) > MAX_PAGE:
            data = data[:MAX_PAGE]
        n = sum(1 for p in self.pages if p.klass == klass)
        self.pages.append(Page(f"{klass}-{n:03d}", klass, data, ct, frozenset(may), note))

    def pick(self, entries: list[Entry], k: int = 1) -> list[Entry]:
        if not entries:
            return []
        return [self.rnd.choice(entries) for _ in range(k)]


def folds(text: str) -> bool:
    """Has a character UTF-8 writes in two bytes: e2guardian's lowercasing of
    bytes 0xC0-0xDD breaks their lead byte, so only we match them (UTF8_FOLD)."""
    return any(0x80 <= ord(c) < 0x800 for c in text)


def _encodes(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def _case_variant(text: str, rnd: random.Random) -> str:
    how = rnd.choice(("upper", "title", "mixed", "first"))
    if how == "upper":
        return text.upper()
    if how == "title":
        return text.title()
    if how == "first":
        return text[:1].upper() + text[1:]
    return "".join(c.upper() if rnd.random() < 0.5 else c for c in text)


def _charref(text: str, rnd: random.Random) -> str:
    """`text` with one or more characters written as character references."""
    idx = [i for i, c in enumerate(text) if c.isalpha() or c == " "]
    if not idx:
        return text
    chosen = set(rnd.sample(idx, min(len(idx), rnd.randint(1, 2))))
    out = []
    for i, c in enumerate(text):
        if i not in chosen:
            out.append(c)
        elif c == " ":
            out.append(rnd.choice(("&nbsp;", "&#32;", "&#x20;")))
        else:
            named = {"a": "&#97;", "e": "&#101;"}
            out.append(rnd.choice((f"&#{ord(c)};", f"&#x{ord(c):x};",
                                   f"&#X{ord(c):X};", named.get(c, f"&#{ord(c)};"))))
    return "".join(out)


def _split_by_tag(text: str, rnd: random.Random) -> str:
    i = rnd.randint(1, max(1, len(text) - 1))
    tag = rnd.choice(("<b>", "</b>", "<span class=\"x\">", "<br>", "<!-- c -->", "<i></i>",
                      "<wbr>", "</span>"))
    return text[:i] + tag + text[i:]


def _weighted_set(b: _Builder, target: int) -> list[Entry] | None:
    """Isolated weighted phrases (at most 6) whose weights sum to exactly `target`."""
    by_weight: dict[int, list[Entry]] = {}
    for e in b.pool.isolated:
        by_weight.setdefault(e.weight or 0, []).append(e)
    weights = sorted(by_weight)
    # reach[d]: sums of at most d weights (repetition allowed): prunes hopeless branches
    reach = [{0}]
    for _ in range(6):
        reach.append(reach[-1] | {s + w for s in reach[-1] for w in weights})

    def search(total: int, depth: int, counts: dict[int, int]) -> list[int] | None:
        if total == target:
            return []
        if depth == 0:
            return None
        order = weights[:]
        b.rnd.shuffle(order)
        for w in order:
            if counts.get(w, 0) >= len(by_weight[w]) or target - total - w not in reach[depth - 1]:
                continue
            counts[w] = counts.get(w, 0) + 1
            rest = search(total + w, depth - 1, counts)
            counts[w] -= 1
            if rest is not None:
                return [w, *rest]
        return None

    found = search(0, 6, {})
    if found is None:
        return None
    chosen: list[Entry] = []
    for w in found:
        e = b.rnd.choice([x for x in by_weight[w] if x not in chosen])
        chosen.append(e)
    return chosen


def _scored_page(b: _Builder, chosen: list[Entry], target: int) -> str | None:
    """Prose with the chosen phrases; None if the approximate score is not `target`."""
    for _ in range(20):
        parts = [b.prose(2)]
        for e in chosen:
            parts.append(f"{b.words(3)} {e.texts[0]} {b.words(3)}.")
        parts.append(b.prose(2))
        text = " ".join(parts)
        if b.pool.approx_score(text) == target:
            return f"<p>{text}</p>"
    return None


def generate_pages(lists_dir: Path, seed: int = 16) -> list[Page]:
    """The seeded page set; the same lists and seed give the same pages."""
    pool = Pool(lists_dir)
    return generate_from_pool(pool, seed)


def generate_from_pool(pool: Pool, seed: int = 16) -> list[Page]:
    b = _Builder(pool, random.Random(seed))
    rnd = b.rnd
    P = b.para

    # clean prose, with and without harmless markup and entities away from phrases
    for i in range(20):
        body = "\n".join(b.para("") for _ in range(rnd.randint(1, 6)))
        if i % 4 == 1:
            body = (f"<div id=\"main\"><h1>{b.words(3)}</h1>{body}"
                    f"<ul><li>{b.words(2)}</li></ul></div>")
        if i % 4 == 2:
            body += f"<p>{b.words(3)} &copy; 2024 {b.words(2)} &amp; {b.words(2)}</p>"
        b.add("clean", body)

    # weighted pages around the limit: exactly 49, 50, 51 and a spread
    for target in [49, 50, 51] * 6 + [30, 45, 48, 52, 55, 60, 75, 100]:
        chosen = _weighted_set(b, target)
        if not chosen:
            continue
        body = _scored_page(b, chosen, target)
        if body is None:
            continue
        b.add(f"limit-{target}" if target in (49, 50, 51) else "weighted", body,
              note=" + ".join(f"{e.texts[0]}={e.weight}" for e in chosen))
    # plain weighted pages: a few random phrases, repeated or not
    for _ in range(20):
        es = b.pick(pool.weighted, rnd.randint(1, 6))
        body = "\n".join(P(e.texts[0] + (" " + e.texts[0]) * rnd.randint(0, 2)) for e in es)
        b.add("weighted", body)

    # banned phrases and combinations; banned beside an exception
    for _ in range(10):
        (e,) = b.pick(pool.banned) or [None]
        if e is None:
            break
        b.add("banned", P(e.texts[0]), note=e.source)
    for _ in range(6):
        (c,) = b.pick(pool.banned_combos) or [None]
        if c is None:
            break
        b.add("banned", "\n".join(P(t) for t in c.texts), note=c.source)
    for _ in range(6):
        es = b.pick(pool.banned) + b.pick(pool.exceptions)
        if len(es) == 2:
            b.add("exception", "\n".join(P(e.texts[0]) for e in es))

    # list lines e2guardian reads in its own way: their words on a page
    for e in pool.quirks:
        enc = {"utf-8": "utf-8", "ascii": "ascii", "cp1251": "cp1251"}.get(e.encoding, "latin-1")
        fold = enc == "utf-8" and any(folds(t) for t in e.parts)
        b.add("list-quirk", "\n".join(P(t.strip()) for t in e.parts), encoding=enc,
              may=[UTF8_FOLD] if fold else [], note=e.source)

    # exceptions: alone, beside heavy weighted content, exception combinations
    for _ in range(8):
        ex = b.pick(pool.exceptions) + b.pick(pool.exception_combos)
        heavy = b.pick(pool.weighted, rnd.randint(0, 8))
        if not ex:
            break
        e = rnd.choice(ex)
        body = "\n".join([P(t) for t in e.texts] + [P(h.texts[0]) for h in heavy])
        b.add("exception", body, note=e.source)

    # weighted combinations, alone and with singles; negative combinations
    for _ in range(16):
        (c,) = b.pick(pool.combos) or [None]
        if c is None:
            break
        extra = b.pick(pool.weighted, rnd.randint(0, 3))
        body = "\n".join([P(t) for t in c.texts] + [P(e.texts[0]) for e in extra])
        b.add("combination", body, note=c.source)
    for _ in range(6):
        (c,) = b.pick(pool.negative_combos) or [None]
        if c is None:
            break
        heavy = b.pick(pool.weighted, rnd.randint(2, 6))
        body = "\n".join([P(t) for t in c.texts] + [P(h.texts[0]) for h in heavy])
        b.add("negative", body, note=c.source)

    # negative weights pulling a page under the limit (or not)
    for _ in range(12):
        heavy = b.pick(pool.weighted, rnd.randint(1, 5))
        neg = b.pick(pool.negative, rnd.randint(1, 3))
        body = "\n".join(P(e.texts[0]) for e in rnd.sample(heavy + neg, len(heavy + neg)))
        b.add("negative", body)

    # phrases split by tags, entities, line breaks and space runs
    multi = [e for e in pool.weighted if " " in e.texts[0] and (e.weight or 0) >= 40]
    strong = [e for e in pool.weighted if (e.weight or 0) >= 60] or pool.weighted
    for _ in range(12):
        (e,) = b.pick(strong)
        b.add("split-tag", P(_split_by_tag(e.texts[0], rnd) + " " + b.words(2)), note=e.source)
    for _ in range(8):
        (e,) = b.pick(multi or strong)
        t = e.texts[0].replace(" ", rnd.choice(("\n", "\r\n", "\t", " \n ", "\n\n")), 1)
        b.add("split-linebreak", P(t), note=e.source)
    for _ in range(8):
        (e,) = b.pick(multi or strong)
        t = e.texts[0].replace(" ", " " * rnd.randint(2, 5), 1)
        b.add("split-spaces", P(t), note=e.source)
    for _ in range(12):
        (e,) = b.pick(strong)
        b.add("split-charref", P(_charref(e.texts[0], rnd)), may=[CHARREF], note=e.source)

    # case variants
    for _ in range(14):
        es = b.pick(strong, rnd.randint(1, 2))
        b.add("case", "\n".join(P(_case_variant(e.texts[0], rnd)) for e in es))

    # text where a smart pass does not look
    def hidden(where: str, t: str) -> str:
        a = t.replace('"', " ")
        return {
            "script": f"<script>var state = {{\"title\": \"{a}\", \"n\": 1}};</script>",
            "script-lt": f"<script>if (a < b) {{ x = \"{a}\"; }} y = c > d;</script>",
            "style": f"<style>/* {a} */ p {{ color: red; }}</style>",
            "comment": f"<!-- {t} -->",
            "alt": f"<img src=\"x.png\" alt=\"{a}\">",
            "title": f"<a href=\"/x\" title=\"{a}\">{b.words(2)}</a>",
            "href": f"<a href=\"/search/{a.replace(' ', '-')}\">{b.words(2)}</a>",
            "data": f"<div data-text=\"{a}\">{b.words(2)}</div>",
            "cdata": f"<![CDATA[ {t} ]]>",
            "srcdoc": f"<iframe srcdoc=\"<p>{a}</p>\"></iframe>",
            "quoted-gt": f"<a title=\"x > y\">{t}</a>",
            "textarea": f"<textarea>{t}</textarea>",
            "noscript": f"<noscript>{t}</noscript>",
        }[where]

    wheres = ("script", "script-lt", "style", "comment", "alt", "title", "href", "data",
              "cdata", "srcdoc", "quoted-gt", "textarea", "noscript")
    for i in range(39):
        where = wheres[i % len(wheres)]
        es = b.pick(strong, rnd.randint(1, 3))
        body = P(b.words(4)) + "\n" + "\n".join(hidden(where, e.texts[0]) for e in es)
        b.add(f"hidden-{where}", body)

    # punctuation in list entries: literal, and with the punctuation as a space
    for _ in range(24):
        (e,) = b.pick(pool.punct) or [None]
        if e is None:
            break
        texts = list(e.texts)
        if rnd.random() < 0.3:
            texts = [re.sub(r"[^a-zA-Z0-9 ]", " ", t) for t in texts]
        body = "\n".join(P(t.replace("<", "&lt;") if "<" in t else t) for t in texts)
        # text/plain, so the entry's own '<' '>' '"' reach the scanner as written
        if rnd.random() < 0.5:
            b.add("punct", " ".join(texts) + "\n" + b.prose(2), ct="text/plain", html=False,
                  note=e.source)
        else:
            may = [CHARREF] if "&lt;" in body else []
            b.add("punct", body, note=e.source, may=may)

    # word boundaries: "< phrase >" entries beside letters, digits, punctuation, tags
    for i in range(24):
        (e,) = b.pick(pool.boundary) or [None]
        if e is None:
            break
        t = e.texts[0]
        ctx = (f"x{t}", f"{t}s", f"{t}1", f"({t})", f"{t},", f"{t}.", f"<b>{t}</b>",
               f"-{t}-", f"'{t}'", f"{t}/", f"@{t}", f"{t}=")[i % 12]
        b.add("boundary", P(ctx + " " + b.words(2)), note=e.source)

    # charsets: pages in the list's own encoding, declared or not
    def decl(enc: str, where: str) -> tuple[str, str]:
        meta = ""
        ct = "text/html"
        if where in ("meta", "both"):
            meta = f"<meta charset=\"{enc}\">"
        if where in ("header", "both"):
            ct = f"text/html; charset={enc}"
        return meta, ct

    page_encs = {
        "latin-1": ("latin-1", "iso-8859-1"),
        "cp1251": ("cp1251", "windows-1251"),
        "iso-8859-2": ("iso-8859-2", "iso-8859-2"),
        "utf-8": ("utf-8", "utf-8"),
    }
    for list_enc, entries in sorted(pool.nonascii.items()):
        for j in range(12):
            (e,) = b.pick(entries)
            # the list's own encoding first, then other encodings of the same text
            others = [k for k, (codec, _) in page_encs.items()
                      if k != list_enc and _encodes(e.texts[0], codec)]
            targets = [list_enc] if list_enc in page_encs else []
            if j % 2 == 0 and others:
                targets.append(rnd.choice(others))
            for enc in targets:
                codec, label = page_encs[enc]
                where = ("none", "meta", "header", "both")[j % 4]
                meta, ct = decl(label, where)
                t = e.texts[0]
                if j % 5 == 4:
                    t = t.upper()
                may = [UTF8_FOLD] if enc == "utf-8" and folds(t) else []
                b.add(f"charset-{enc}", P(t) + "\n" + P(b.words(3)), ct=ct, encoding=codec,
                      meta=meta, may=may, note=f"{e.source} ({list_enc} list)")
    # UTF-8 entries in a UTF-8 page, by case: same bytes, upper case, title case
    utf8 = pool.nonascii.get("utf-8", [])
    for _ in range(6):
        (e,) = b.pick(utf8 or pool.weighted)
        t = _case_variant(e.texts[0], rnd)
        b.add("charset-utf-8", P(t), ct="text/html; charset=utf-8", encoding="utf-8",
              may=[UTF8_FOLD] if folds(t) else [], note=e.source)
    # CJK pages are UTF-8 with 3-byte characters: e2guardian matches their bytes,
    # so they are no documented difference and must agree
    cjk = [e for e in utf8 if not folds(e.texts[0])]
    for j in range(8):
        (e,) = b.pick(cjk) or [None]
        if e is None:
            break
        ct = "text/html; charset=utf-8" if j % 2 else "text/html"
        b.add("charset-utf-8-cjk", P(e.texts[0]) + "\n" + P(rnd.choice(cjk).texts[0]),
              ct=ct, encoding="utf-8", note=e.source)

    # text/plain pages
    for i in range(14):
        es = b.pick(strong, rnd.randint(0, 4))
        lines = [b.prose(2)] + [f"{b.words(3)} {e.texts[0]} {b.words(2)}" for e in es]
        if i % 3 == 0:
            lines.append(f"<b>{b.words(2)}</b> <!-- {rnd.choice(strong).texts[0]} -->")
        b.add("text-plain", "\n".join(lines), ct="text/plain", html=False)

    # combinations of the above on one page
    for _ in range(20):
        parts = []
        for _k in range(rnd.randint(2, 5)):
            kind = rnd.choice(("plain", "split", "hidden", "case", "neg", "combo"))
            if kind == "plain":
                parts.append(P(rnd.choice(pool.weighted).texts[0]))
            elif kind == "split":
                parts.append(P(_split_by_tag(rnd.choice(strong).texts[0], rnd)))
            elif kind == "hidden":
                parts.append(hidden(rnd.choice(wheres), rnd.choice(strong).texts[0]))
            elif kind == "case":
                parts.append(P(_case_variant(rnd.choice(strong).texts[0], rnd)))
            elif kind == "neg" and pool.negative:
                parts.append(P(rnd.choice(pool.negative).texts[0]))
            elif pool.combos:
                parts.extend(P(t) for t in rnd.choice(pool.combos).texts)
        b.add("mixed", "\n".join(parts))

    return b.pages


# --- hypothesis ---------------------------------------------------------------------

def page_strategy(pool: Pool):  # type: ignore[no-untyped-def]
    """Pages built from list phrases, filler and markup (ASCII or UTF-8 HTML, or text).

    Draws a list of pieces; each is a phrase (weighted, negative, banned,
    exception, combination parts), filler words, or a phrase put through one
    transformation (tag split, case, hidden place, line break, charref).
    """
    from hypothesis import strategies as st

    phrases = [e.texts[0] for e in pool.weighted + pool.negative + pool.banned
               + pool.exceptions]
    phrases += [t for c in pool.combos + pool.negative_combos for t in c.texts]
    utf8 = [e.texts[0] for e in pool.nonascii.get("utf-8", [])]
    filler = pool.filler

    phrase = st.sampled_from(phrases)
    words = st.lists(st.sampled_from(filler), min_size=1, max_size=6).map(" ".join)
    wrap = st.sampled_from([
        "{}", "<b>{}</b>", "<p>{}</p>", "<!-- {} -->", "<script>x=\"{}\"</script>",
        "<style>/*{}*/</style>", "<img alt=\"{}\">", "<a title=\"{}\">t</a>",
        "<div data-x=\"{}\">d</div>", "<![CDATA[{}]]>", "{}\n", "  {}  ",
    ])

    @st.composite
    def piece(draw):  # type: ignore[no-untyped-def]
        kind = draw(st.sampled_from(("phrase", "words", "split", "case", "charref", "utf8")))
        may: set[str] = set()
        if kind == "words":
            return draw(words), may, False
        if kind == "utf8" and utf8:
            t = draw(st.sampled_from(utf8))
            if draw(st.booleans()):
                t = t.upper()
            return draw(wrap).format(t), may, folds(t)
        t = draw(phrase).replace('"', " ")
        if kind == "split" and len(t) > 1:
            i = draw(st.integers(1, len(t) - 1))
            t = t[:i] + draw(st.sampled_from(("<b>", "</i>", "<br>", "\n", "  "))) + t[i:]
        elif kind == "case":
            t = draw(st.sampled_from((str.upper, str.title, str.capitalize)))(t)
        elif kind == "charref" and t:
            i = draw(st.integers(0, len(t) - 1))
            t = t[:i] + f"&#{ord(t[i])};" + t[i + 1:]
            may.add(CHARREF)
        return draw(wrap).format(t), may, False

    @st.composite
    def page(draw) -> Page:  # type: ignore[no-untyped-def]
        pieces = draw(st.lists(piece(), min_size=1, max_size=12))
        may: set[str] = set()
        nonascii = False
        texts = []
        for text, m, na in pieces:
            texts.append(text)
            may |= m
            nonascii |= na
        plain = draw(st.booleans()) if not nonascii else False
        body = " ".join(texts)
        if nonascii:
            may.add(UTF8_FOLD)
        if plain:
            data = body.encode("utf-8")
            ct = "text/plain"
        else:
            data = _html(body, meta="<meta charset=\"utf-8\">" if nonascii else "").encode()
            ct = "text/html"
        return Page("hypothesis", "hypothesis", data[:MAX_PAGE], ct, frozenset(may))

    return page()


def main() -> None:
    """Write the generated pages to a folder, to look at them or judge them by hand."""
    import argparse

    from tests.e2guardian_oracle import E2G_ETC

    ap = argparse.ArgumentParser(prog="python -m tests.e2g_pages")
    ap.add_argument("out", type=Path)
    ap.add_argument("--lists", type=Path, default=E2G_ETC / "lists")
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pages = generate_pages(args.lists, args.seed)
    for p in pages:
        ext = ".txt" if p.content_type.startswith("text/plain") else ".html"
        (args.out / (p.name + ext)).write_bytes(p.data)
    print(f"{len(pages)} pages in {args.out}")


if __name__ == "__main__":
    main()
