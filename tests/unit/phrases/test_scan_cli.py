from __future__ import annotations

import gzip
import json
from pathlib import Path

from click.testing import CliRunner

from icapfilter.commands.scan_cmd import scan
from tests.unit.phrases.listhelpers import write


def lists(tmp_path: Path) -> Path:
    d = tmp_path / "lists"
    write(d / "weightedphraselist", '#listcategory: "Test"\n<naughty><30>\n<word><25>\n')
    write(d / "bannedphraselist", "<forbidden>\n")
    return d


def test_text_output_and_gzip_sniffing(tmp_path):
    d = lists(tmp_path)
    page = write(tmp_path / "p.html.gz", gzip.compress(b"<p>naughty word</p>"))
    res = CliRunner().invoke(scan, [str(page), "--phraselists", str(d)])
    assert res.exit_code == 0, res.output
    assert "verdict: block" in res.output and "score:   55" in res.output
    assert "<naughty>" in res.output and "[Test]" in res.output


def test_json_and_limit(tmp_path):
    d = lists(tmp_path)
    page = write(tmp_path / "p.html", b"<p>naughty word</p>")
    res = CliRunner().invoke(scan, [str(page), "--phraselists", str(d), "--limit", "60", "--json"])
    assert res.exit_code == 0
    obj = json.loads(res.output)
    assert obj["verdict"] == "allow" and obj["score"] == 55 and obj["reason"] == "clean"
    assert {p["phrase"] for p in obj["phrases"]} == {"naughty", "word"}


def test_stdin_and_modes(tmp_path):
    d = lists(tmp_path)
    res = CliRunner().invoke(
        scan,
        [
            "-",
            "--phraselists",
            str(d),
            "--json",
            "--weighted-mode",
            "normal",
            "--filter-mode",
            "raw",
        ],
        input=b"word word <b title='forbidden'>x</b>",
    )
    obj = json.loads(res.output)
    assert res.exit_code == 0 and obj["reason"] == "banned phrase" and obj["verdict"] == "block"


def test_usage_errors_exit_2(tmp_path):
    d = lists(tmp_path)
    runner = CliRunner()
    assert runner.invoke(scan, [str(tmp_path / "missing"), "--phraselists", str(d)]).exit_code == 2
    page = write(tmp_path / "p.html", b"x")
    assert runner.invoke(scan, [str(page), "--phraselists", str(tmp_path / "no")]).exit_code == 2
    assert runner.invoke(scan, [str(page), "--phraselists", str(d), "--limit", "x"]).exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(scan, [str(page), "--phraselists", str(empty)]).exit_code == 2


def test_e2guardian_exact_flag_and_dead_entries_on_show_list_errors(tmp_path):
    d = tmp_path / "lists"
    write(d / "weightedphraselist", "<naughty><60>\n<e-mail><5>\n")
    page = write(tmp_path / "p.html", b"<p>n&#97;ughty</p>\n")
    args = [str(page), "--phraselists", str(d), "--json"]
    default = json.loads(CliRunner().invoke(scan, args).output)
    exact = json.loads(CliRunner().invoke(scan, [*args, "--e2guardian-exact"]).output)
    assert (default["verdict"], exact["verdict"]) == ("block", "allow")
    assert exact["e2guardian_exact"] is True and exact["score"] == 0
    res = CliRunner().invoke(scan, [*args, "--show-list-errors"])
    assert f"{d / 'weightedphraselist'}:2: warning: never matches: phrase <e-mail>" in res.stderr
