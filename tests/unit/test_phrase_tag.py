"""Learned verdicts are keyed by the phrase tag: it must change whenever the
same page could get another verdict."""

from dataclasses import replace
from pathlib import Path

from icapfilter.app import load_phrases
from icapfilter.config import Config, PhrasesConfig


def _config(tmp_path: Path, **phrases: object) -> Config:
    lists = tmp_path / "lists"
    if not lists.exists():
        lists.mkdir()
        (lists / "bannedphraselist").write_text("<badword>\n")
        (lists / "weightedphraselist").write_text("<naughty><30>\n")
        (lists / "exceptionphraselist").write_text("")
    return replace(Config(), phrases=PhrasesConfig(dir=str(lists), **phrases))


def test_the_tag_is_stable_for_the_same_files_and_settings(tmp_path: Path) -> None:
    assert load_phrases(_config(tmp_path))[1] == load_phrases(_config(tmp_path))[1]


def test_the_tag_changes_with_the_exact_mode_and_the_filter_mode(tmp_path: Path) -> None:
    base = load_phrases(_config(tmp_path))[1]
    assert load_phrases(_config(tmp_path, e2guardian_exact=True))[1] != base
    assert load_phrases(_config(tmp_path, filter_mode="raw"))[1] != base


def test_the_tag_changes_with_the_rules_version(tmp_path: Path, monkeypatch) -> None:
    import icapfilter.phrases as phrases

    base = load_phrases(_config(tmp_path))[1]
    monkeypatch.setattr(phrases, "RULES_VERSION", phrases.RULES_VERSION + 1)
    assert load_phrases(_config(tmp_path))[1] != base
