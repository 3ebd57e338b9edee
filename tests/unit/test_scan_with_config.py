"""`icapfilter scan --config --group` scores with the group's own limit."""

from __future__ import annotations

import json

from click.testing import CliRunner

from icapfilter.cli import main


def setup(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "weightedphraselist").write_text("<casino><30>\n<poker><30>\n")
    conf = tmp_path / "c.toml"
    conf.write_text(f'[phrases]\ndir = "{lists}"\n'
                    '[[groups]]\nname = "kids"\nnaughtiness_limit = 20\n'
                    '[[groups]]\nname = "default"\nnaughtiness_limit = 100\n')
    page = tmp_path / "p.html"
    page.write_text("<p>Casino and poker tonight</p>")
    return conf, page


def run(*args):
    result = CliRunner().invoke(main, ["scan", *args])
    return result.exit_code, result.output


def test_group_limit_decides_the_verdict(tmp_path):
    conf, page = setup(tmp_path)
    code, out = run(str(page), "--config", str(conf), "--group", "kids", "--json")
    assert code == 0 and json.loads(out)["verdict"] == "block"
    code, out = run(str(page), "--config", str(conf), "--json")
    result = json.loads(out)
    assert result["verdict"] == "allow" and result["score"] == 60 and result["limit"] == 100


def test_unknown_group_is_a_usage_error(tmp_path):
    conf, page = setup(tmp_path)
    code, out = run(str(page), "--config", str(conf), "--group", "nosuch")
    assert code == 2 and "no group 'nosuch'" in out
