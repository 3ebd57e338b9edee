from __future__ import annotations

from pathlib import Path

import pytest

from icapfilter.phrases import ListKind, Weight, load_phrase_dir, load_phrase_set
from icapfilter.phrases.normalize import clean_phrase
from icapfilter.phrases.parser import parse_entry
from tests.unit.phrases.listhelpers import write


def singles(ps):
    return {p.text: (p.kind, p.weight, p.category) for p in ps.singles}


def test_phrase_forms_and_boundaries():
    assert parse_entry("<test>")[0] == ("test",)
    assert parse_entry("< test>")[0] == (" test",)
    assert parse_entry("<test >")[0] == ("test ",)
    assert parse_entry("< test >")[0] == (" test ",)
    assert parse_entry("<  Two   Words  >")[0] == (" two words ",)


def test_cleanup_follows_e2guardian_punctuation():
    # bytes below '/', : ; = ? @ and [ \ ] ^ _ ` become spaces; '/' stays
    assert clean_phrase("e-mail") == "e mail"
    assert clean_phrase("a/b") == "a/b"
    assert clean_phrase("don't") == "don t"
    assert clean_phrase("x_y@z") == "x y z"
    assert clean_phrase("STRASSE") == clean_phrase("Straße") == "strasse"
    assert clean_phrase("ВОДКА") == "водка"
    assert clean_phrase("«quoted»") == " quoted "


def test_weights_negative_percent_and_junk():
    assert parse_entry("<sex><10>")[1] == Weight(10)
    assert parse_entry("<good><-25>")[1] == Weight(-25)
    assert parse_entry("<x><+5>")[1] == Weight(5)
    assert parse_entry("<x><10%>")[1] == Weight(10, True)
    parts, weight, warnings, err = parse_entry("<美女明星><30>3 #beauty star")
    assert parts == ("美女明星",) and weight == Weight(30) and not warnings and err is None
    assert parse_entry("< nakna brdar > <40>")[:2] == ((" nakna brdar ",), Weight(40))


def test_combinations():
    assert parse_entry("<a>,<b>,<c>")[:2] == (("a", "b", "c"), None)
    assert parse_entry("< slampor >, <xxx><60>")[:2] == ((" slampor ", "xxx"), Weight(60))
    # e2guardian misreads these stock lines; we read them as meant, with a warning
    parts, weight, warnings, _ = parse_entry("<dojrzałe kobiety><porno><70>")
    assert (parts, weight) == (("dojrzałe kobiety", "porno"), Weight(70)) and warnings
    parts, weight, warnings, _ = parse_entry("< animais,< foda >,< burro><50>")
    assert parts == (" animais", " foda ", " burro") and weight == Weight(50) and warnings
    parts, weight, warnings, _ = parse_entry("<incest rape<50>")
    assert parts == ("incest rape",) and weight == Weight(50) and warnings


def test_bad_entries():
    assert parse_entry("<ga")[3] == "phrase has no closing '>'"
    assert parse_entry("< pronta a soddisfare><50")[:2] == ((" pronta a soddisfare",), Weight(50))
    assert parse_entry("<>")[3] == "empty phrase"
    assert parse_entry("<-->")[3] == "empty phrase"
    assert parse_entry("<a>,<>")[3] == "empty phrase"


def test_bad_lines_reported_with_file_and_line(tmp_path: Path):
    f = write(tmp_path / "w", "# c\n<ok><5>\n<>\n\n<ga\n.Include<missing>\n<fine>\n")
    ps, errors = load_phrase_set([], [f], [])
    assert len(ps) == 2
    got = [(e.line, e.level) for e in errors]
    assert got == [(3, "error"), (5, "warning"), (6, "error")]
    assert str(errors[0]).startswith(f"{f}:3: error: empty phrase")
    assert "missing" in errors[2].message


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
    assert len(ps.combinations) == 1 and ps.combinations[0].kind is ListKind.BANNED
    assert ps.duplicates == 5


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
    assert errors == []
    assert {p.text for p in ps.singles} == {
        "très", "garçon", "водка", "пиво", "少女", "写真", "巨乳",
    }  # fmt: skip


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
