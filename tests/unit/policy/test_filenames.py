"""File names read from URL paths and Content-Disposition as a browser saves
them: every plausible reading is returned, hostile spellings included."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icapfilter.policy.filenames import disposition_names, normalize, url_file_names


@pytest.mark.parametrize(("value", "expected"), [
    ('attachment; filename="setup.exe"', "setup.exe"),
    ("attachment; filename=setup.exe", "setup.exe"),
    ('filename="setup.exe"', "setup.exe"),  # no disposition type (realVNC's form)
    ("attachment; filename*=UTF-8''setup%2Eexe", "setup.exe"),
    ("attachment; filename*=iso-8859-1'en'%E9t%E9.exe", "été.exe"),
    ("attachment; FILENAME=SETUP.EXE", "setup.exe"),
    ('attachment; filename="setup.exe.  "', "setup.exe"),
    ('attachment; filename="C:\\\\Users\\\\x\\\\setup.exe"', "setup.exe"),
    ('attachment; filename="../../bin/setup.exe"', "setup.exe"),
    ('attachment; filename="setup.exe', "setup.exe"),  # unterminated quote
    ("attachment ; filename = setup.exe ; size=10", "setup.exe"),
    ("attachment; filename*0*=utf-8''set; filename*1=up.e; filename*2=xe", "setup.exe"),
    ('attachment; filename="=?UTF-8?B?c2V0dXAuZXhl?="', "setup.exe"),
    ("attachment; filename=setup%2Eexe", "setup.exe"),
    ('attachment; filename="setup.exe::$DATA"', "setup.exe"),
    ('attachment; filename="setup.exe\x00.txt"', "setup.exe"),
])
def test_disposition_name_is_read_as_a_browser_saves_it(value, expected):
    assert expected in disposition_names(value)


def test_both_filename_and_filename_star_are_judged():
    names = disposition_names("attachment; filename=\"notes.txt\"; filename*=UTF-8''setup.exe")
    assert {"notes.txt", "setup.exe"} <= names


@pytest.mark.parametrize("word", ["=?UT\xe5-8?B?c2V0dXAuZXhl?=", "=?utf-8?B?c2V0dXAuZXhl",
                                  "=?x?Q?=ZZ?="])
def test_a_malformed_encoded_word_is_read_as_it_is(word):
    assert normalize(word) in disposition_names(f'attachment; filename="{word}"')


def test_a_parameter_given_twice_gives_both_values():
    assert {"a.txt", "b.exe"} <= disposition_names('attachment; filename=a.txt; filename="b.exe"')


@pytest.mark.parametrize("value", ["", "inline", "attachment", ";;;", "===", "attachment; size=3",
                                   'attachment; filename=""', "attachment; filename*=''"])
def test_no_name_gives_nothing(value):
    assert disposition_names(value) == set()


@pytest.mark.parametrize("charset", ["x-bogus", "UT\x00\x008", "utf 8"])
def test_an_unknown_or_malformed_charset_still_decodes_the_percent_escapes(charset):
    assert "setup.exe" in disposition_names(f"attachment; filename*={charset}''setup%2Eexe")


@given(st.text(max_size=300))
def test_any_header_value_is_read_without_error(value):
    for name in disposition_names(value):
        assert name == normalize(name) and name


_NAMES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/\\"),
                 min_size=1, max_size=40).map(lambda s: s + ".exe")


@given(_NAMES)
def test_a_quoted_filename_round_trips(name):
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    assert normalize(name) in disposition_names(f'attachment; filename="{escaped}"')


@given(_NAMES)
def test_an_rfc_8187_filename_round_trips(name):
    value = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
    assert normalize(name) in disposition_names(value)


@given(st.lists(st.sampled_from(["a", ";", "=", '"', "\\", " ", "filename", "*", "'", "%"]),
                max_size=200))
def test_a_header_of_separators_and_quotes_is_read_without_error(pieces):
    names = disposition_names("".join(pieces))
    assert all(name and name == normalize(name) for name in names)


@settings(max_examples=5, deadline=None)
@given(st.sampled_from(['"', ";", "=", "filename=", "filename*0*=", "\\"]))
def test_a_huge_header_is_read_in_linear_time(piece):
    value = "attachment; " + piece * 30_000
    started = time.monotonic()
    disposition_names(value)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(("url", "expected"), [
    ("http://x.test/setup.exe", "setup.exe"),
    ("http://x.test/dl/SETUP.EXE", "setup.exe"),
    ("http://x.test/setup.exe.", "setup.exe"),
    ("http://x.test/setup.exe%20", "setup.exe"),
    ("http://x.test/setup%2Eexe", "setup.exe"),
    ("http://x.test/setup%2eEXE", "setup.exe"),
    ("http://x.test/setup.exe?x=1", "setup.exe"),
    ("http://x.test/setup.exe#top", "setup.exe"),
    ("http://x.test/setup.exe;jsessionid=42", "setup.exe"),
    ("http://x.test/a%2Fsetup.exe", "setup.exe"),
    ("http://x.test/a%5Csetup.exe", "setup.exe"),
    ("http://x.test/x;.exe", "x;.exe"),  # saved under the whole segment
    ("http://x.test/setup.exe%00.jpg", "setup.exe"),
])
def test_url_path_names_the_file(url, expected):
    assert expected in url_file_names(url)


@pytest.mark.parametrize("url", ["http://x.test", "http://x.test/", "http://x.test/dir/",
                                 "x.test:443", "http://x.test/download.php?file=setup.exe"])
def test_url_without_a_file_name_in_its_path(url):
    assert not any(name.endswith(".exe") for name in url_file_names(url))


@given(st.text(max_size=200))
def test_any_url_is_read_without_error(url):
    names = url_file_names("http://x.test/" + url)
    assert all(name and name == normalize(name) for name in names)


def test_a_continuation_index_of_non_ascii_digits_is_no_index():
    # '¹'.isdigit() is True but int('¹') raises: found by the fuzzer
    names = disposition_names("attachment; filename*\u00b9*=utf-8''set; filename*1=up.exe")
    assert "up.exe" in names
