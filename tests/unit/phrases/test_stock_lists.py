"""Every phrase list Debian's e2guardian package ships must load cleanly.

Counts are checked against an independent, deliberately naive reading of the
files: lines starting with '<' (after trimming) that have a '>', split into
single phrases and combinations the way e2guardian's substring searches do;
distinct single phrases, every combination line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from icapfilter.phrases import BodyScan, ListKind, load_phrase_dir, load_phrase_set, scan_bytes
from icapfilter.scan_settings import ScanSettings
from tests.e2g_lists import ListsUnavailable, e2g_lists_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def lists() -> Path:
    try:
        return e2g_lists_dir()
    except ListsUnavailable as exc:
        pytest.skip(str(exc))


def naive_counts(path: Path) -> tuple[int, int]:
    """(distinct single phrases, combination lines) in one file, no includes."""
    singles: set[bytes] = set()
    combos = 0
    for raw in path.read_bytes().split(b"\n"):
        line = raw.strip(b" \t\r\n").lower()
        if not line.startswith(b"<"):
            continue
        weighted = re.search(rb"><-?[0-9]+>", line) is not None
        body = line[: line.find(b"><")] + b">" if weighted else line
        if len(body.partition(b">,")[2]) > 2:
            combos += 1
            continue
        phrase = body[1:].partition(b">")[0] if b">" in body[1:] else b""
        if phrase:
            singles.add(phrase[:127])
    return len(singles), combos


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


def test_only_known_warnings_and_every_dead_entry_named_once(lists):
    _, errors = load_phrase_dir(lists)
    assert [e for e in errors if e.level == "error"] == []
    assert all(e.level == "warning" for e in errors)
    quirks = sorted(
        (Path(e.path).name, e.line, e.message.split(" (")[0])
        for e in errors
        if not e.message.startswith("never matches")
    )
    # the lines e2guardian reads differently from what they seem to say
    assert quirks == [
        ("weighted_general_polish", 1, "a UTF-8 byte-order mark starts the file: e2guardian "
         "does not read this line as an entry"),
        ("weighted_polish", 32, "e2guardian reads the banned phrase <dojrzałe kobiety> and "
         "ignores '<porno><70>'"),
        ("weighted_polish", 54, "no closing '>': e2guardian skips this line"),
        ("weighted_swedish", 14, "e2guardian reads the banned phrase < nakna brdar > and "
         "ignores '<40>'"),
    ]
    dead = [(e.path, e.line) for e in errors if e.message.startswith("never matches")]
    assert len(dead) == len(set(dead)) > 400  # each entry once, with its file and line
    messages = {(Path(e.path).parent.name, Path(e.path).name, e.line): e.message
                for e in errors}
    # both goodphrases exceptions are dead: a ',' and a '-' that pages never show
    exc = [m for k, m in messages.items() if k[:2] == ("goodphrases", "exception")]
    assert len(exc) == 2 and all(m.startswith("never matches") for m in exc)


def test_dead_entries_with_the_stock_quirks_as_e2guardian_reads_them(lists):
    ps, errors = load_phrase_set([], [lists / "phraselists/pornography/weighted"], [])
    incest = next(p for p in ps.singles if p.key == b"incest rape<50")
    assert incest.kind is ListKind.BANNED
    assert any("<incest rape<50> contains '<'" in e.message for e in errors)


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


def test_non_latin_lists_show_real_words_and_keep_their_bytes(lists):
    ru, _ = load_phrase_set([], [lists / "phraselists/russian-koi8-r/pornography/weighted"], [])
    assert "проститутки" in {p.text for p in ru.singles}
    assert "проститутки".encode("cp1251") in {p.key for p in ru.singles}
    ja, _ = load_phrase_set([], [lists / "phraselists/pornography/weighted_japanese"], [])
    texts = {p.text for p in ja.singles}
    assert {"少女", "巨乳", "オナニー"} <= texts
    assert all(not any("\u0080" <= c <= "\u00ff" for c in t) for t in texts)  # no mojibake
    # a windows-1251 page without any charset declaration matches its bytes
    page = "<p>Проститутки и проститутки</p>\n".encode("cp1251")
    r = scan_bytes(ru, page, ScanSettings(e2guardian_exact=True), content_type="text/html")
    assert any(h.phrase == "проститутки" for h in r.phrases)


def test_both_matcher_engines_give_the_same_verdicts_and_hits_with_every_stock_list(lists):
    pytest.importorskip("ahocorasick_rs")
    from icapfilter.phrases.phraseset import PhraseSet

    every, _ = load_phrase_set([], phrase_files(lists), [])
    engines = [
        PhraseSet(every.singles, every.combinations, engine=e)
        for e in ("pyahocorasick", "ahocorasick-rs")
    ]
    assert engines[1].matcher.engine == "ahocorasick-rs"
    keys = [p.key for p in every.singles]
    for start in range(5):
        words = b" filler, ".join(keys[start::37])
        body = b"<html><body><p>" + words + b"</p><p>Caf&eacute; &amp; mehr</p></body></html>"
        for chunk in (len(body), 1000, 7):
            results = []
            for ps in engines:
                scan = BodyScan(ps, limit=50, content_type="text/html; charset=utf-8")
                for i in range(0, len(body), chunk):
                    scan.feed(body[i : i + chunk])
                results.append(scan.finish())
            assert results[0] == results[1]
            assert results[0].phrases
