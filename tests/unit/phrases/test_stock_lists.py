"""Every phrase list Debian's e2guardian package ships must load cleanly.

Counts are checked against an independent, deliberately naive reading of the
files: lines starting with '<', minus the unterminated ones, split into
single phrases and combinations, minus duplicates.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from icapfilter.phrases import ListKind, load_phrase_dir, load_phrase_set, scan_bytes
from tests.e2g_lists import ListsUnavailable, e2g_lists_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_PART = re.compile(r"<([^<>]*)")
_NUMBER = re.compile(r"\s*[+-]?\d+%?\s*")
_PUNCT = re.compile(r"[\x00-\x2e:;=?@\[\\\]^_`,<>\s\u00a0«»“”„‘’…–—¡¿·]+")


@pytest.fixture(scope="module")
def lists() -> Path:
    try:
        return e2g_lists_dir()
    except ListsUnavailable as exc:
        pytest.skip(str(exc))


def naive_counts(path: Path) -> tuple[int, int]:
    """(distinct single phrases, distinct combinations) in one file, no includes."""
    from icapfilter.phrases.listfile import read_list_lines  # decoding only

    singles: set[str] = set()
    combos: set[frozenset[str]] = set()
    for line in read_list_lines(path):
        line = line.split(" #", 1)[0].strip()
        if not line.startswith("<") or ">" not in line:
            continue
        parts = _PART.findall(line)
        if len(parts) > 1 and _NUMBER.fullmatch(parts[-1]):
            parts.pop()
        keys = [_PUNCT.sub(" ", p.rstrip(",")).casefold() for p in parts]
        if len(keys) == 1:
            singles.add(keys[0])
        else:
            combos.add(frozenset(keys))
    return len(singles), len(combos)


def phrase_files(lists: Path) -> list[Path]:
    return sorted(p for p in (lists / "phraselists").rglob("*") if p.is_file())


def test_every_file_loads_without_errors_and_with_the_right_counts(lists):
    files = phrase_files(lists)
    assert len(files) > 100
    mismatches = []
    for f in files:
        exception = "exception" in f.name
        ps, errors = load_phrase_set([], [] if exception else [f], [f] if exception else [])
        assert [e for e in errors if e.level == "error"] == [], f
        got = (len(ps.singles), len(ps.combinations))
        if got != naive_counts(f):
            mismatches.append((str(f.relative_to(lists)), got, naive_counts(f)))
    assert mismatches == []


def test_only_known_warnings(lists):
    _, errors = load_phrase_dir(lists)
    assert [e for e in errors if e.level == "error"] == []
    # the stock lists have a handful of malformed lines; each is reported
    assert all(e.level == "warning" for e in errors)
    assert len(errors) < 40


def test_main_lists(lists):
    ps, errors = load_phrase_dir(lists)
    assert not [e for e in errors if e.level == "error"]
    # everything the three top-level lists include, deduplicated across files
    assert (
        len(ps.files)
        == 1
        + sum(
            1
            for name in ("bannedphraselist", "weightedphraselist", "exceptionphraselist")
            for line in (lists / name).read_text().splitlines()
            if line.lower().startswith(".include<")
        )
        + 2
    )
    assert ps.count(ListKind.BANNED) >= 5
    assert ps.count(ListKind.WEIGHTED) > 5000
    assert ps.count(ListKind.EXCEPTION) >= 3
    assert ps.count(ListKind.WEIGHTED, combinations=True) > 1000
    r = scan_bytes(ps, b"<p>Free porn! Hardcore XXX sex videos, nude teen pics</p>")
    assert r.blocked
    assert not scan_bytes(ps, b"<p>The weather in Paris is mild today.</p>").blocked


def test_non_latin_lists_decode_to_real_words(lists):
    ru, _ = load_phrase_set([], [lists / "phraselists/russian-koi8-r/pornography/weighted"], [])
    assert "проститутки" in {p.text for p in ru.singles}
    ja, _ = load_phrase_set([], [lists / "phraselists/pornography/weighted_japanese"], [])
    texts = {p.text for p in ja.singles}
    assert {"少女", "巨乳", "オナニー"} <= texts
    assert all(not any("\u0080" <= c <= "\u00ff" for c in t) for t in texts)  # no mojibake


def test_both_matcher_engines_give_the_same_verdicts_and_hits_with_every_stock_list(lists):
    pytest.importorskip("ahocorasick_rs")
    from icapfilter.phrases.phraseset import PhraseSet

    every, _ = load_phrase_set([], phrase_files(lists), [])
    engines = [
        PhraseSet(every.singles, every.combinations, engine=e)
        for e in ("pyahocorasick", "ahocorasick-rs")
    ]
    assert engines[1].matcher.engine == "ahocorasick-rs"
    texts = [p.text for p in every.singles]
    for start in range(5):
        words = " filler, ".join(texts[start::37])
        page = f"<html><body><p>{words}</p><p>Caf&eacute; &amp; mehr</p></body></html>"
        body = page.encode("utf-8")
        for chunk in (len(body), 1000, 7):
            results = []
            for ps in engines:
                scan = ps.new_scan(limit=50, content_type="text/html; charset=utf-8")
                for i in range(0, len(body), chunk):
                    scan.feed(body[i : i + chunk])
                results.append(scan.finish())
            assert results[0] == results[1]
            assert results[0].phrases
