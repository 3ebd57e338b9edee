from __future__ import annotations

from pathlib import Path

import pytest

from icapfilter.phrases import ListKind, Weight, load_phrase_dir, load_phrase_set
from icapfilter.phrases.parser import c_atoi, parse_entry
from tests.unit.phrases.listhelpers import write


def singles(ps):
    return {p.text: (p.kind, p.weight, p.category) for p in ps.singles}


def entry(line: str, **kw):
    r = parse_entry(line.encode("utf-8"), **kw)
    return r.parts, r.weight, r.warnings


def test_phrase_forms_and_boundaries_are_kept_byte_for_byte():
    assert entry("<test>")[0] == (b"test",)
    assert entry("< test>")[0] == (b" test",)
    assert entry("<test >")[0] == (b"test ",)
    assert entry("< test >")[0] == (b" test ",)
    # e2guardian neither folds spaces nor maps punctuation in entries
    assert entry("<  two   words  >")[0] == (b"  two   words  ",)
    assert entry("<e-mail>")[0] == (b"e-mail",)


def test_weights_negative_percent_and_junk():
    assert entry("<sex><10>")[1] == Weight(10)
    assert entry("<good><-25>")[1] == Weight(-25)
    assert entry("<x><+5>")[1] == Weight(5)
    assert entry("<x><10%>")[1] == Weight(10, True)
    assert entry("<x>< 7 >")[1] == Weight(7)  # atoi skips leading white space
    parts, weight, warnings = entry("<美女明星><30>3 #beauty star")
    assert parts == ("美女明星".encode(),) and weight == Weight(30) and not warnings


def test_a_percentage_in_an_exception_list_makes_an_exception_entry():
    parts, weight, warnings = entry("<x><10%>", exception_file=True)
    assert (parts, weight) == ((b"x",), None) and warnings


def test_stock_quirks_are_read_as_e2guardian_reads_them():
    parts, weight, warnings = entry("< nakna brdar > <40>")
    assert (parts, weight) == ((b" nakna brdar ",), None)
    assert "ignores '<40>'" in warnings[0] and "weight" in warnings[0]
    parts, weight, warnings = entry("<dojrzałe kobiety><porno><70>")
    assert (parts, weight) == (("dojrzałe kobiety".encode(),), None)
    assert "ignores '<porno><70>'" in warnings[0]
    parts, weight, warnings = entry("<incest rape<50>")
    assert (parts, weight, warnings) == ((b"incest rape<50",), None, ())  # dead: '<'
    parts, weight, warnings = entry("< animais,< foda >,< burro><50>")
    assert (parts, weight) == ((b" animais,< foda ", b" burro"), Weight(50))
    parts, weight, warnings = entry("< pronta a soddisfare><50")
    assert (parts, weight) == ((b" pronta a soddisfare",), None) and "'<50'" in warnings[0]


def test_combinations():
    assert entry("<a>,<b>,<c>")[:2] == ((b"a", b"b", b"c"), None)
    assert entry("< slampor >, <xxx><60>")[:2] == ((b" slampor ", b"xxx"), Weight(60))
    # an empty part is dropped from the combination
    parts, _, warnings = entry("<a>,<bc")
    assert parts == (b"a",) and warnings
    # too short after ">," to be a combination: a single phrase
    parts, _, warnings = entry("<a>,<>")
    assert parts == (b"a",) and warnings
    assert parse_entry(b"<a>,<b>").combination and not parse_entry(b"<a>,<>").combination


def test_skipped_and_truncated_entries():
    assert entry("<ga") == ((), None, ("no closing '>': e2guardian skips this line",))
    assert entry("<>")[0] == ()
    assert entry("<a><0>")[:2] == ((b"a",), None)
    parts, _, warnings = entry("<" + "x" * 130 + ">")
    assert parts == (b"x" * 127,) and "127" in warnings[0]


def test_c_atoi():
    assert (c_atoi(b"40>"), c_atoi(b" -3x"), c_atoi(b"x"), c_atoi(b"")) == (40, -3, 0, 0)
    assert c_atoi(b"4294967297") == 1  # clamped to a long, then cut to an int


def test_bad_lines_reported_with_file_and_line(tmp_path: Path):
    f = write(tmp_path / "w", "# c\n<ok><5>\n<>\n\n<ga\n.Include<missing>\n<fine>\n")
    ps, errors = load_phrase_set([], [f], [])
    assert len(ps) == 2
    got = [(e.line, e.level) for e in errors]
    assert got == [(3, "warning"), (5, "warning"), (6, "error")]
    assert str(errors[0]).startswith(f"{f}:3: warning: empty phrase")
    assert "missing" in errors[2].message


def test_entries_are_lowercased_ascii_only_and_not_under_noconvert(tmp_path: Path):
    f = write(tmp_path / "w", "<MiXeD Ünï><5>\n#noconvert\n<KeepCase><5>\n")
    ps, errors = load_phrase_set([], [f], [])
    keys = {p.key for p in ps.singles}
    assert keys == {"mixed Ünï".encode(), b"KeepCase"}
    dead = [e for e in errors if "never matches" in e.message]
    assert [e.line for e in dead] == [1, 3]  # 'Ü' starts with 0xC3; 'K' is never in a page
    assert "default mode still matches it on UTF-8 pages" in dead[0].message


def test_dead_entries_name_the_byte_and_the_line(tmp_path: Path):
    f = write(tmp_path / "w", "<ok.dot=at@><5>\n<e-mail><5>\n<a>,<b_c><5>\n<x<y>\n")
    _, errors = load_phrase_set([], [f], [])
    dead = {e.line: e.message for e in errors if "never matches" in e.message}
    assert sorted(dead) == [2, 3, 4]
    assert "'-'" in dead[2] and "combination part <b_c>" in dead[3] and "'<'" in dead[4]


def test_kind_comes_from_weight_then_file(make_set):
    ps = make_set(
        banned="<b1>\n<bw><20>\n",
        weighted="<w1><5>\n<nb>\n",
        exception="<e1>\n<ew><-10>\n<e2>,<e3>\n",
    )
    s = singles(ps)
    assert s["b1"][0] is ListKind.BANNED
    assert s["bw"][:2] == (ListKind.WEIGHTED, Weight(20))
    assert s["w1"][:2] == (ListKind.WEIGHTED, Weight(5))
    assert s["nb"][0] is ListKind.BANNED  # no weight in the weighted list: banned (e2g)
    assert s["e1"][0] is ListKind.EXCEPTION
    assert s["ew"][:2] == (ListKind.WEIGHTED, Weight(-10))
    (combo,) = ps.combinations
    assert combo.parts == ("e2", "e3") and combo.kind is ListKind.EXCEPTION


def test_zero_weight_is_banned_as_in_e2guardian(tmp_path: Path):
    f = write(tmp_path / "w", "<zero><0>\n")
    ps, errors = load_phrase_set([], [f], [])
    assert ps.singles[0].kind is ListKind.BANNED
    assert errors[0].level == "warning"


def test_duplicates(make_set):
    ps = make_set(
        banned="<dup b>\n<both>,<parts>\n",
        weighted="<dup w><5>\n<dup w><15>\n<dup w><10>\n<dup b><50>\n<parts>,<both><40>\n"
        "<dup e><30>\n",
        exception="<dup e>\n",
    )
    s = singles(ps)
    assert s["dup w"][:2] == (ListKind.WEIGHTED, Weight(15))
    assert s["dup b"][0] is ListKind.BANNED
    assert s["dup e"][0] is ListKind.EXCEPTION
    # every combination line counts on its own, as in e2guardian's combination list
    assert [c.kind for c in ps.combinations] == [ListKind.BANNED, ListKind.WEIGHTED]
    assert ps.duplicates == 4


def test_includes_categories_and_comments(tmp_path: Path):
    write(tmp_path / "sub" / "inc", '#listcategory: "Inner"\n<inner><5>\n')
    write(tmp_path / "sub" / "inc2", "<second><6>\n")
    write(tmp_path / "abs", "<absolute><7>\n")
    main = write(
        tmp_path / "weightedphraselist",
        '#listcategory: "Outer"\n'
        "   # indented comment\n"
        "<outer><1>   # trailing comment\n"
        ".Include<sub/inc>\n"
        ".INCLUDE<__LISTDIR__/sub/inc2>\n"
        f".include<{tmp_path / 'abs'}>\n"
        "<after><2>\n",
    )
    ps, errors = load_phrase_set([], [main], [], list_dir=tmp_path)
    assert errors == []
    cats = {p.text: p.category for p in ps.singles}
    # a category set inside an include does not leak back to the includer
    assert cats == {
        "outer": "Outer",
        "inner": "Inner",
        "second": "Outer",
        "absolute": "Outer",
        "after": "Outer",
    }
    assert next(p for p in ps.singles if p.text == "inner").source.endswith("inc:2")


def test_include_loop_and_aliases(tmp_path: Path):
    write(tmp_path / "a", "<a><1>\n.Include<b>\n")
    write(tmp_path / "b", "<b><1>\n.Include<a>\n")
    ps, errors = load_phrase_set([], [tmp_path / "a"], [])
    assert {p.text for p in ps.singles} == {"a", "b"}
    assert [e.message.startswith("include loop") for e in errors] == [True]

    lists = tmp_path / "lists"
    write(lists / "phraselists" / "x" / "weighted", "<aliased><3>\n")
    write(lists / "weightedphraselist", ".Include</etc/e2guardian/lists/phraselists/x/weighted>\n")
    ps, errors = load_phrase_dir(lists)
    assert errors == [] and ps.singles[0].text == "aliased"


def test_missing_list_file_is_an_error_not_an_exception(tmp_path: Path):
    ps, errors = load_phrase_set([tmp_path / "nope"], [], [])
    assert len(ps) == 0 and errors[0].level == "error" and "cannot read" in errors[0].message


def test_non_utf8_files(tmp_path: Path):
    latin = write(tmp_path / "weighted_french", "<très><10>\n<garçon><5>\n".encode("latin-1"))
    ru = write(tmp_path / "russian" / "weighted", "<водка><10>\n<Пиво><5>\n".encode("cp1251"))
    koi = write(
        tmp_path / "russian-koi8-r" / "weighted", "<водка><10>\n<пиво><5>\n".encode("koi8_r")
    )
    mixed = write(
        tmp_path / "japanese" / "weighted",
        "#UTF-8\n<少女><50>\n".encode()
        + b"#EUC-JP\n"
        + "<写真><5>\n".encode("euc_jp")
        + b"#Shift_JIS\n"
        + "<巨乳><7>\n".encode("cp932"),
    )
    ps, errors = load_phrase_set([], [latin, ru, koi, mixed], [])
    # the keys are the files' own bytes; the texts are for people
    assert {p.text for p in ps.singles} == {
        "très", "garçon", "водка", "Пиво", "пиво", "少女", "写真", "巨乳",
    }  # fmt: skip
    assert "водка".encode("cp1251") in {p.key for p in ps.singles}
    # bytes 0xC0-0xDD are lowercased in pages, never in lists: windows-1251 'П'
    # (0xCF), every KOI8-R lower-case letter, EUC-JP '写' (0xBC 0xCC) never match
    dead = [(Path(e.path).parent.name, e.line) for e in errors if "never matches" in e.message]
    assert dead == [("russian", 2), ("russian-koi8-r", 1), ("russian-koi8-r", 2), ("japanese", 4)]


def test_percent_weight_resolution():
    assert Weight(10, True).resolve(50) == 5
    assert Weight(15, True).resolve(50) == 7  # C integer division
    assert Weight(-15, True).resolve(50) == -7  # truncates toward zero
    assert Weight(12).resolve(999) == 12


@pytest.mark.timeout(10)
def test_a_device_as_phrase_list_or_include_is_reported_not_read(tmp_path: Path):
    f = write(tmp_path / "w", "<ok><5>\n.Include</dev/zero>\n<fine><1>\n")
    ps, errors = load_phrase_set([Path("/dev/zero")], [f], [])
    assert len(ps) == 2
    messages = sorted(str(e) for e in errors)
    assert any("cannot read /dev/zero: not a regular file" in m for m in messages)
    assert any(m.startswith(f"{f}:2: error: cannot read include /dev/zero: not a regular file")
               for m in messages)
