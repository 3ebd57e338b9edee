"""`#time:` in an e2guardian URL list is not honoured; the admin is told so and
pointed at schedules instead of the list silently applying at all times."""

from __future__ import annotations

from pathlib import Path

from icapfilter.urls.listfiles import read_sources
from icapfilter.urls.report import LoadReport


def test_a_time_tag_in_a_url_list_is_a_warning_that_names_schedules(tmp_path: Path) -> None:
    (tmp_path / "bannedsitelist").write_text("#time: 8 0 16 30 01234\ngames.test\n")
    report = LoadReport()
    entries = list(read_sources([tmp_path], report))
    assert len(entries) == 1  # the entry is still read
    (problem,) = report.problems
    assert problem.severity == "warning" and problem.line == 1
    assert "[[groups.schedule]]" in problem.message
    assert report.errors == 0
