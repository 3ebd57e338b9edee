"""icapfilter's phrase verdicts against e2guardian 5.3.5's own, page by page.

e2guardian runs in ICAP mode with a private copy of Debian's configuration
(tests/e2guardian_oracle.py); icapfilter scans with the very same list files.
The pages come from tests/e2g_pages.py (a seeded set of a few hundred, every
class the issue names) and from a hypothesis strategy.

- `e2guardian_exact=True`: every verdict, and the naughtiness whenever
  e2guardian reports one (weighted blocks), equals e2guardian's.
- default mode: a page may get another verdict only when it exercises one of
  the two documented differences (character references decoded, UTF-8 pages
  matched with Unicode case folding); every other page agrees.

On failure the message is a table of disagreements by page class. Run
`python -m tests.integration.test_e2guardian_parity` for the same tables
without pytest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from icapfilter.commands.scan_cmd import scan_file
from icapfilter.phrases import load_phrase_dir
from icapfilter.phrases.model import ScanResult
from icapfilter.phrases.phraseset import PhraseSet
from icapfilter.scan_settings import ScanSettings
from tests.e2g_pages import (
    CHARREF,
    DOCUMENTED,
    UTF8_FOLD,
    Page,
    Pool,
    generate_from_pool,
    page_strategy,
)
from tests.e2guardian_oracle import E2GuardianOracle, OracleVerdict, oracle_for_tests

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIMIT = 50
HYPOTHESIS_EXAMPLES = 50


@dataclass(frozen=True)
class Row:
    page: Page
    e2g: OracleVerdict
    ours: ScanResult

    @property
    def mismatch(self) -> str | None:
        """How our verdict differs from e2guardian's, or None."""
        if self.e2g.blocked and not self.ours.blocked:
            return "e2g blocks, we allow"
        if self.ours.blocked and not self.e2g.blocked:
            return "we block, e2g allows"
        if self.e2g.naughtiness is not None and self.ours.score != self.e2g.naughtiness:
            return "naughtiness"
        return None


def scan(ps: PhraseSet, page: Page, *, exact: bool) -> ScanResult:
    """Our verdict; `exact` selects e2guardian 5.3.5's rules (blind spots included)."""
    return scan_file(ps, page.data, ScanSettings(e2guardian_exact=exact), limit=LIMIT,
                     content_type=page.content_type)


def judge_all(oracle: E2GuardianOracle, ps: PhraseSet, pages: list[Page],
              *, exact: bool) -> list[Row]:
    return [Row(p, oracle.judge(p.data, p.content_type), scan(ps, p, exact=exact))
            for p in pages]


def table(rows: list[Row], title: str, *, allowed: bool = False) -> str:
    """Disagreements by page class (allowed=True: only pages without a documented class)."""
    by_class: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_class[r.page.klass].append(r)
    lines = [title, f"{'class':22} {'pages':>5} {'e2g-block':>9} {'e2g>us':>6} {'us>e2g':>6} "
                    f"{'score':>5}  documented  examples"]
    total = defaultdict(int)
    for klass in sorted(by_class):
        group = by_class[klass]
        bad = [r for r in group if r.mismatch and not (allowed and r.page.may_differ)]
        counts = {k: sum(1 for r in bad if r.mismatch == k) for k in
                  ("e2g blocks, we allow", "we block, e2g allows", "naughtiness")}
        documented = sorted({c for r in group for c in r.page.may_differ})
        examples = ", ".join(
            f"{r.page.name}(e2g {r.e2g.verdict}/{r.e2g.naughtiness}, us {r.ours.verdict}/"
            f"{r.ours.score})" for r in bad[:2])
        lines.append(f"{klass:22} {len(group):>5} {sum(r.e2g.blocked for r in group):>9} "
                     f"{counts['e2g blocks, we allow']:>6} {counts['we block, e2g allows']:>6} "
                     f"{counts['naughtiness']:>5}  {','.join(documented) or '-':10}  {examples}")
        total["pages"] += len(group)
        for k, v in counts.items():
            total[k] += v
    lines.append(f"{'TOTAL':22} {total['pages']:>5} {'':>9} {total['e2g blocks, we allow']:>6} "
                 f"{total['we block, e2g allows']:>6} {total['naughtiness']:>5}")
    return "\n".join(lines)


def detail(rows: list[Row], limit: int = 15) -> str:
    out = []
    for r in rows[:limit]:
        out.append(f"--- {r.page.name} [{r.page.content_type}] {r.mismatch}; note: {r.page.note}\n"
                   f"    e2guardian: {r.e2g}\n"
                   f"    icapfilter: {r.ours.verdict} score={r.ours.score} "
                   f"reason={r.ours.reason!r} phrases={[h.phrase for h in r.ours.phrases][:8]}\n"
                   f"    page: {r.page.data[:300]!r}")
    return "\n".join(out)


# --- fixtures -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def e2guardian_oracle() -> Iterator[E2GuardianOracle]:
    yield from oracle_for_tests()


@pytest.fixture(scope="module")
def phrase_set(e2guardian_oracle: E2GuardianOracle) -> PhraseSet:
    ps, _errors = load_phrase_dir(e2guardian_oracle.lists_dir)
    return ps


@pytest.fixture(scope="module")
def pool(e2guardian_oracle: E2GuardianOracle) -> Pool:
    return Pool(e2guardian_oracle.lists_dir)


@pytest.fixture(scope="module")
def pages(pool: Pool) -> list[Page]:
    return generate_from_pool(pool)


# --- the oracle and the page set themselves -----------------------------------------

def test_oracle_blocks_a_weighted_page_with_its_naughtiness_and_logs_it_after_a_flush(
        e2guardian_oracle: E2GuardianOracle) -> None:
    clean = e2guardian_oracle.judge(b"<html><body><p>The river runs past.</p></body></html>")
    assert not clean.blocked
    v = e2guardian_oracle.judge(b"<html><body>xxx porn sex anal amateur</body></html>")
    assert v.blocked and v.naughtiness is not None and v.naughtiness > LIMIT
    assert f"limit of {LIMIT}" in v.reason
    log = e2guardian_oracle.flush_log()
    assert "DENIED" in log and f"\t{v.naughtiness}\t" in log


def test_oracle_reads_the_lists_it_hands_to_icapfilter(
        e2guardian_oracle: E2GuardianOracle, phrase_set: PhraseSet) -> None:
    """The gambling list is enabled in the copy: both sides must see it."""
    page = b"<html><body>casino roulette blackjack gambling poker online</body></html>"
    assert e2guardian_oracle.judge(page).blocked
    assert "gambling/weighted" in " ".join(phrase_set.files)


def test_generated_set_covers_every_class_the_issue_names(pages: list[Page]) -> None:
    assert len(pages) >= 300
    classes = {p.klass for p in pages}
    for needed in ("clean", "limit-49", "limit-50", "limit-51", "banned", "exception",
                   "combination", "negative", "split-tag", "split-charref", "split-linebreak",
                   "split-spaces", "case", "hidden-script", "hidden-style", "hidden-comment",
                   "hidden-alt", "hidden-title", "hidden-href", "hidden-data", "hidden-cdata",
                   "hidden-srcdoc", "punct", "boundary", "charset-latin-1", "charset-utf-8",
                   "charset-cp1251", "charset-iso-8859-2", "charset-utf-8-cjk", "text-plain",
                   "list-quirk"):
        assert needed in classes, needed
    assert any("charset=" in p.content_type for p in pages)
    assert any(b"<meta charset" in p.data for p in pages)
    assert all(len(p.data) < 60 * 1024 for p in pages)


def test_generated_pages_around_the_limit_score_as_built(
        e2guardian_oracle: E2GuardianOracle, pages: list[Page]) -> None:
    """The generator's sums are e2guardian's: 49 and 50 pass, 51 blocks with 51."""
    for p in pages:
        if p.klass.startswith("limit-"):
            target = int(p.klass.split("-")[1])
            v = e2guardian_oracle.judge(p.data, p.content_type)
            if target > LIMIT:
                assert v.blocked and v.naughtiness == target, (p.name, p.note, v)
            else:
                assert not v.blocked, (p.name, p.note, v)


# --- the differential tests ---------------------------------------------------------

def test_exact_mode_gives_e2guardians_verdict_and_naughtiness_on_every_generated_page(
        e2guardian_oracle: E2GuardianOracle, phrase_set: PhraseSet, pages: list[Page]) -> None:
    rows = judge_all(e2guardian_oracle, phrase_set, pages, exact=True)
    bad = [r for r in rows if r.mismatch]
    if bad:
        pytest.fail(table(rows, f"e2guardian_exact: {len(bad)} of {len(rows)} pages disagree")
                    + "\n" + detail(bad), pytrace=False)


def test_default_mode_differs_from_e2guardian_only_in_the_documented_classes(
        e2guardian_oracle: E2GuardianOracle, phrase_set: PhraseSet, pages: list[Page]) -> None:
    rows = judge_all(e2guardian_oracle, phrase_set, pages, exact=False)
    bad = [r for r in rows if r.mismatch and not r.page.may_differ]
    if bad:
        pytest.fail(table(rows, f"default mode: {len(bad)} of {len(rows)} pages disagree "
                                f"outside {DOCUMENTED}", allowed=True)
                    + "\n" + detail(bad), pytrace=False)


@pytest.mark.parametrize("klass,documented", [("split-charref", CHARREF),
                                              ("charset-utf-8", UTF8_FOLD)])
def test_documented_differences_do_occur_in_default_mode(
        e2guardian_oracle: E2GuardianOracle, phrase_set: PhraseSet, pages: list[Page],
        klass: str, documented: str) -> None:
    """Where e2guardian is blind we see more: phrases written with character
    references, and non-ASCII phrases on UTF-8 pages, block with us only."""
    chosen = [p for p in pages if p.klass == klass and documented in p.may_differ]
    rows = judge_all(e2guardian_oracle, phrase_set, chosen, exact=False)
    assert any(r.mismatch == "we block, e2g allows" for r in rows), table(rows, klass)
    exact = judge_all(e2guardian_oracle, phrase_set, chosen, exact=True)
    assert not any(r.mismatch for r in exact), table(exact, f"{klass}, exact mode")


_hyp = settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


def test_exact_mode_agrees_on_hypothesis_pages(
        e2guardian_oracle: E2GuardianOracle, phrase_set: PhraseSet, pool: Pool) -> None:
    @_hyp
    @given(page_strategy(pool))
    def check(page: Page) -> None:
        row = Row(page, e2guardian_oracle.judge(page.data, page.content_type),
                  scan(phrase_set, page, exact=True))
        assert row.mismatch is None, detail([row])

    check()


def test_default_mode_differs_only_in_documented_classes_on_hypothesis_pages(
        e2guardian_oracle: E2GuardianOracle, phrase_set: PhraseSet, pool: Pool) -> None:
    @_hyp
    @given(page_strategy(pool))
    def check(page: Page) -> None:
        row = Row(page, e2guardian_oracle.judge(page.data, page.content_type),
                  scan(phrase_set, page, exact=False))
        assert row.mismatch is None or page.may_differ, detail([row])

    check()


# --- command line: the tables without pytest ----------------------------------------

def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m tests.integration.test_e2guardian_parity")
    ap.add_argument("--details", action="store_true", help="print each disagreement")
    ap.add_argument("--save", type=Path, help="write the generated pages to this folder")
    args = ap.parse_args()
    with E2GuardianOracle() as oracle:
        ps, _ = load_phrase_dir(oracle.lists_dir)
        pool = Pool(oracle.lists_dir)
        pages = generate_from_pool(pool)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            for p in pages:
                (args.save / p.name).write_bytes(p.data)
        for exact in (False, True):
            try:
                rows = judge_all(oracle, ps, pages, exact=exact)
            except TypeError as exc:
                print(f"e2guardian_exact={exact}: {exc}\n")
                continue
            name = "e2guardian_exact" if exact else "default mode"
            print(table(rows, f"{name}: all disagreements"))
            if not exact:
                print()
                print(table(rows, f"{name}: outside {DOCUMENTED}", allowed=True))
            if args.details:
                print(detail([r for r in rows if r.mismatch], limit=10_000))
            print()


if __name__ == "__main__":
    main()
