"""Regular-expression URL lists: the files that hold them, what a pattern is
matched against, RE2's linear time, and one set per generation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from icapfilter.urls.engine import UrlEngine
from icapfilter.urls.errors import LoadError
from icapfilter.urls.listfiles import _Context, parse_lines
from icapfilter.urls.loader import load_lists
from icapfilter.urls.model import GenerationInfo
from icapfilter.urls.normalize import parse_url
from icapfilter.urls.regexlists import CompiledRules, pattern_error, subject
from icapfilter.urls.report import LoadReport
from icapfilter.urls.rules import Rule
from icapfilter.urls.store import ListStore, MemoryStore

TREE = {
    # UT1: a category folder with an expressions file
    "ut1/adult/domains": "adult.example\n",
    "ut1/adult/expressions": "(^|[-?+=/_.])(porn|xxx)([-?+=/_.]|$)\n",
    # squidGuard
    "sg/warez/expressionlist": "# comment\n\\.(torrent|nzb)$\n",
    # e2guardian
    "e2g/bannedregexpurllist": '#listcategory: "Regex bans"\nsecret[0-9]+ # trailing comment\n',
    "e2g/exceptionregexpurllist": '#listcategory: "Regex allow"\n^school\\.example/porn-research\n',
}


def verdicts(engine: UrlEngine, url: str) -> list[tuple[str, str, bool, str | None]]:
    return [(h.category, h.entry, h.exception, h.source) for h in engine.lookup(url)]


@pytest.fixture
def tree(write_tree) -> Path:
    return write_tree(TREE)


@pytest.fixture
def engine(tree: Path, store: ListStore) -> UrlEngine:
    report = load_lists(store, [tree / "ut1", tree / "sg", tree / "e2g"])
    assert report.activated and report.errors == 0 and report.warnings == 0, report.summary()
    return UrlEngine(store, cache_size=0)


def test_every_regex_file_format_is_read_with_its_category_and_location(tree: Path) -> None:
    report = load_lists(MemoryStore(), [tree / "ut1", tree / "sg", tree / "e2g"])
    got = {(r.category, r.text, r.exception, r.where) for r in report.rules}
    assert got == {
        ("adult", "(^|[-?+=/_.])(porn|xxx)([-?+=/_.]|$)", False,
         f"{tree}/ut1/adult/expressions:1"),
        ("warez", "\\.(torrent|nzb)$", False, f"{tree}/sg/warez/expressionlist:2"),
        ("Regex bans", "secret[0-9]+", False, f"{tree}/e2g/bannedregexpurllist:2"),
        ("Regex allow", "^school\\.example/porn-research", True,
         f"{tree}/e2g/exceptionregexpurllist:2"),
    }
    assert report.counts["adult"] == 2  # the domain and the expression


@pytest.mark.parametrize(("url", "category"), [
    ("http://news.example/free-porn/", "adult"),
    ("https://XXX.example/", "adult"),                  # case-insensitive, host included
    ("http://files.example/a/b.TORRENT", "warez"),
    ("http://files.example/x/../b.torrent/", "warez"),  # resolved, trailing / removed
    ("http://files.example/b%2Etorrent", "warez"),      # decoded
    ("http://a.example:8080/Secret42", "Regex bans"),   # the port is not in the subject
    ("a.example:443", None),                            # a CONNECT target has no path
    ("http://news.example/pornography", None),          # the pattern wants a boundary
])
def test_a_pattern_matches_the_url_as_squidguard_and_e2guardian_see_it(
        engine: UrlEngine, url: str, category: str | None) -> None:
    hits = engine.lookup(url)
    assert [h.category for h in hits] == ([category] if category else [])


def test_the_subject_has_no_scheme_and_a_decoded_lowercase_path() -> None:
    assert subject(parse_url("HTTPS://WWW.Example.COM:8443/A%20b/./c/?Q=%C3%A4")) == \
        "www.example.com/a b/c?q=ä".encode()
    assert subject(parse_url("http://bücher.de/")) == b"xn--bcher-kva.de"


def test_an_exception_pattern_allows_and_names_its_file_and_line(
        engine: UrlEngine, tree: Path) -> None:
    hits = verdicts(engine, "http://school.example/porn-research/x")
    assert hits == [
        ("adult", "(^|[-?+=/_.])(porn|xxx)([-?+=/_.]|$)", False,
         f"{tree}/ut1/adult/expressions:1"),
        ("Regex allow", "^school\\.example/porn-research", True,
         f"{tree}/e2g/exceptionregexpurllist:2"),
    ]


def test_hashed_entries_come_before_patterns(engine: UrlEngine) -> None:
    assert [h.entry for h in engine.lookup("http://adult.example/porn")] == [
        "adult.example", "(^|[-?+=/_.])(porn|xxx)([-?+=/_.]|$)"]


def test_with_patterns_the_decision_cache_is_per_url_not_per_host(
        tree: Path) -> None:
    store = MemoryStore()
    load_lists(store, [tree / "ut1"])
    engine = UrlEngine(store, cache_size=100)
    assert engine.lookup("http://news.example/") == []
    assert [h.category for h in engine.lookup("http://news.example/porn")] == ["adult"]
    assert engine.lookup("http://news.example/sport") == []


def test_a_generation_of_patterns_only_is_loaded(write_tree, store: ListStore) -> None:
    root = write_tree({"adult/expressions": "porn\n"})
    report = load_lists(store, [root])
    assert report.activated and report.unique_keys == 0
    assert [h.category for h in UrlEngine(store).lookup("http://porn.example/")] == ["adult"]


@pytest.mark.parametrize(("line", "why"), [
    ("(a", "missing )"),
    ("bad(?<=x)", "invalid perl operator"),     # look-behind: backtracking only
    ("(a)\\1", "invalid escape sequence"),       # back-reference
    ("x{1001}", "invalid repetition size"),
])
def test_a_pattern_re2_refuses_is_a_file_line_error(write_tree, line: str, why: str) -> None:
    root = write_tree({"e2g/bannedregexpurllist": f"good\n{line}\nalso-good\n"})
    report = load_lists(MemoryStore(), [root / "e2g"])
    assert report.activated
    assert [r.text for r in report.rules] == ["good", "also-good"]
    assert report.errors == 1
    problem = str(report.problems[0])
    assert problem.startswith(f"{root}/e2g/bannedregexpurllist:2: not a valid RE2 regular")
    assert why in problem


def test_strict_refuses_a_bad_pattern(write_tree) -> None:
    root = write_tree({"adult/expressions": "ok\n(broken\n"})
    with pytest.raises(LoadError, match="strict mode: 1 bad line"):
        load_lists(MemoryStore(), [root], strict=True)


def test_a_catastrophic_backtracking_pattern_runs_in_linear_time(write_tree) -> None:
    # (a+)+$ takes Python's re about 2**n steps on "aaa...!"; RE2 does not backtrack
    root = write_tree({"adult/expressions": "(a+)+$\n(x+x+)+y\n"})
    store = MemoryStore()
    load_lists(store, [root])
    engine = UrlEngine(store, cache_size=0)
    started = time.monotonic()
    for n in (30, 3000):
        assert engine.lookup("http://h.example/" + "a" * n + "!") == []
        assert engine.lookup("http://h.example/" + "x" * n) == []
    assert time.monotonic() - started < 1.0


def test_all_patterns_are_one_set_matched_once_per_url(monkeypatch) -> None:
    rules = [Rule("regex", rf"\bword{i}\b", "c", False, f"f:{i}") for i in range(2000)]
    compiled = CompiledRules(rules)
    calls: list[bytes] = []
    matcher = compiled._set
    assert matcher is not None

    class Counting:
        def Match(self, text: bytes) -> list[int] | None:  # noqa: N802 - re2's name
            calls.append(text)
            return matcher.Match(text)

    monkeypatch.setattr(compiled, "_set", Counting())
    found = compiled.match(parse_url("http://x.example/word1999/word7"))
    assert [r.where for r in found] == ["f:7", "f:1999"]  # file order
    assert len(calls) == 1


def test_rules_survive_the_metadata_round_trip() -> None:
    info = GenerationInfo("g", 1.0, rules=[Rule("regex", "a|b", "c", True, "f:3"),
                                           Rule("blanket", "**", "d", False, "g:1")])
    assert GenerationInfo.from_json(info.to_json()).rules == info.rules
    assert GenerationInfo.from_json('{"generation": "g", "loaded_at": 1}').rules == []


def test_redis_and_memory_stores_match_the_same_patterns(engine: UrlEngine) -> None:
    """Runs for both store kinds (conftest ``store``): the rules ride in the metadata."""
    assert [h.category for h in engine.lookup("http://a.example/secret7")] == ["Regex bans"]


lines = st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30), max_size=8)


@given(lines)
@example(["**", "*ip", "**ip", "(a", "x{1001}", ".Include<missing>", "ok # comment", "#c"])
@settings(max_examples=300, deadline=None)
def test_the_regex_parser_keeps_what_re2_compiles_and_reports_the_rest(texts) -> None:
    data = "\n".join(texts).encode("utf-8")
    report = LoadReport()
    ctx = _Context("f", "regex", False, "c", None, (), True)
    entries = list(parse_lines(data, ctx, report))
    assert entries == []  # patterns are never hashed entries
    for rule in report.rules:
        assert rule.kind == "blanket" or pattern_error(rule.text) is None
    assert all(p.line is not None for p in report.problems)
    CompiledRules(report.rules)  # what was accepted builds a set


def test_gnu_word_boundaries_in_a_squidguard_list_get_a_warning(write_tree) -> None:
    # squidGuard compiles with glibc regcomp, where \< and \> are word
    # boundaries; RE2 (like e2guardian's PCRE) reads them as < and >
    root = write_tree({"sg/adult/expressionlist": "\\<sex\\>\n",
                       "e2g/bannedregexpurllist": "\\<tag\\>\n"})
    report = load_lists(MemoryStore(), [root / "sg", root / "e2g"])
    assert [r.text for r in report.rules] == ["\\<sex\\>", "\\<tag\\>"]
    assert [str(p) for p in report.problems] == [
        f"{root}/sg/adult/expressionlist:1: warning: \\< and \\> are the characters < and > "
        "in RE2 (squidGuard's GNU regex reads them as word boundaries): write \\b"]


def test_when_re2_cannot_search_the_lists_count_as_unavailable(write_tree) -> None:
    """The binding answers "no match" when RE2's DFA runs out of memory; the
    set's always-matching sentinel tells the two apart, so on_error decides
    instead of a silent allow."""
    from icapfilter.policy.failure import FailurePolicy
    from icapfilter.policy.groups import EVERY_LIST_BLOCKS
    from icapfilter.policy.url_verdict import UrlVerdicts
    from icapfilter.urls.errors import StoreUnavailable

    root = write_tree({"adult/expressions": "porn\n"})
    store = MemoryStore()
    load_lists(store, [root])
    engine = UrlEngine(store, cache_size=0)
    assert engine.lookup("http://x.example/porn")
    generation = engine.generation
    assert generation is not None

    class OutOfMemory:
        def Match(self, text: bytes) -> None:  # noqa: N802 - re2's name
            return None

    engine._categories[generation].rules._set = OutOfMemory()
    with pytest.raises(StoreUnavailable, match="RE2 out of memory"):
        engine.lookup("http://x.example/clean")
    verdict = UrlVerdicts(engine, FailurePolicy("block")).verdict(EVERY_LIST_BLOCKS,
                                                                  "http://x.example/clean")
    assert verdict is not None and verdict.blocked
