"""``icapfilter check --lists DIR --json``: regex lists and blanket blocks
decide, exceptions allow, and the answer names the pattern's file:line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from icapfilter.commands.check_cmd import check

TREE = {
    "lists/blacklists/adult/domains": "adult.example\n",
    "lists/blacklists/adult/expressions": "(^|[-?+=/_.])(porn|xxx)([-?+=/_.]|$)\n",
    "lists/e2g/bannedsitelist": '#listcategory: "whitelist only"\n**\n',
    "lists/e2g/exceptionsitelist": "school.example\n",
    "lists/e2g/bannedregexpurllist": '#listcategory: "Regex bans"\n/(setup|install)[0-9]*\\.exe$\n',
}


def run_check(root, *urls: str) -> list[dict]:
    result = CliRunner().invoke(check, ["--lists", str(root / "lists"), "--json", *urls])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_patterns_and_blanket_block_and_the_exception_allows(write_tree) -> None:
    root = write_tree(TREE)
    answers = run_check(root, "http://news.example/free-porn/", "http://files.example/SETUP2.exe",
                        "http://unlisted.example/", "http://www.school.example/lesson",
                        "http://school.example/porn-history")
    got = [(a["verdict"], a["category"], a["entry"], a["source"]) for a in answers]
    expressions = f"{root}/lists/blacklists/adult/expressions:1"
    assert got == [
        ("block", "adult", "(^|[-?+=/_.])(porn|xxx)([-?+=/_.]|$)", expressions),
        ("block", "Regex bans", "/(setup|install)[0-9]*\\.exe$",
         f"{root}/lists/e2g/bannedregexpurllist:2"),
        ("block", "whitelist only", "**", f"{root}/lists/e2g/bannedsitelist:2"),
        ("allow", "exceptionsitelist", "school.example", None),
        ("allow", "exceptionsitelist", "school.example", None),
    ]
    assert answers[2]["reason"] == "blanket block: only exceptions are allowed"
    assert {"category": "adult", "entry": "(^|[-?+=/_.])(porn|xxx)([-?+=/_.]|$)",
            "exception": False, "source": expressions} in answers[4]["hits"]


def test_the_text_form_prints_the_source(write_tree) -> None:
    root = write_tree(TREE)
    result = CliRunner().invoke(check, ["--lists", str(root / "lists"),
                                        "http://files.example/install.exe"])
    assert result.exit_code == 0, result.output
    assert f"source:   {root}/lists/e2g/bannedregexpurllist:2" in result.stdout
    assert f"also:     whitelist only (**, {root}/lists/e2g/bannedsitelist:2)" in result.stdout


def test_a_bad_pattern_is_reported_with_its_line(write_tree) -> None:
    root = write_tree({"lists/adult/expressions": "ok\n(unclosed\n"})
    result = CliRunner().invoke(check, ["--lists", str(root / "lists"), "http://x.example/ok"])
    assert result.exit_code == 0
    assert f"{root}/lists/adult/expressions:2: not a valid RE2 regular expression" in \
        result.stderr
