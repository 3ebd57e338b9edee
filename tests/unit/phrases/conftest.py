from __future__ import annotations

from pathlib import Path

import pytest

from icapfilter.phrases import PhraseSet, load_phrase_set
from tests.unit.phrases.listhelpers import write


@pytest.fixture
def make_set(tmp_path: Path):
    """make_set(banned=..., weighted=..., exception=...) -> PhraseSet (no load errors)."""

    def make(banned: str = "", weighted: str = "", exception: str = "") -> PhraseSet:
        b = write(tmp_path / "bannedphraselist", banned)
        w = write(tmp_path / "weightedphraselist", weighted)
        e = write(tmp_path / "exceptionphraselist", exception)
        ps, errors = load_phrase_set([b], [w], [e])
        assert [x for x in errors if x.level == "error"] == []
        return ps

    return make
