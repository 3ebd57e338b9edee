"""Each atheris fuzzer runs briefly over its seed corpus, as a smoke test.

The point is that the harnesses keep working (imports, seed corpora, the
properties they check) and that nothing the seeds reach crashes; finding new
bugs takes the long runs described in docs/operations.md ("Fuzzing"). Every
run is bounded by ``-runs`` and ``-max_total_time`` and by a subprocess timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris is not installed (pip install -e '.[test]')")

pytestmark = pytest.mark.slow  # about 20 s for the four

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
FUZZERS = ["icap_parser", "url_normalizer", "list_parser", "phrase_parser", "decoder",
           "filetypes_safesearch"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", FUZZERS)
def test_fuzzer_runs_its_seeds_and_a_short_campaign_without_a_crash(
    name: str, tmp_path: Path
) -> None:
    seeds = FUZZ / "corpus" / name
    assert len(list(seeds.iterdir())) >= 3, f"seed corpus {seeds} is missing"
    found = tmp_path / "found"  # new inputs go here, never into the committed seeds
    found.mkdir()
    result = subprocess.run(
        [sys.executable, str(FUZZ / f"fuzz_{name}.py"), str(found), str(seeds),
         "-runs=3000", "-max_total_time=6", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=45, cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # the harnesses' scratch folders
    )
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-"))]
    assert result.returncode == 0 and not crashes, result.stderr[-4000:]
    assert "Done " in result.stderr, result.stderr[-2000:]
