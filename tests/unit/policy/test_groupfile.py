"""The user-to-group file in e2guardian's filtergroupslist format."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icapfilter.policy.groupfile import MAX_SHOWN, GroupFileError, read_group_file

GROUPS = ["pupils", "staff", "admins"]


def write(tmp_path: Path, text: str, name: str = "filtergroupslist") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_filter_n_counts_the_groups_from_one_in_file_order(tmp_path):
    path = write(tmp_path, "daniel=filter2\nroot=filter3\nkid=filter1\n")
    assert read_group_file(path, GROUPS) == {"daniel": "staff", "root": "admins", "kid": "pupils"}


def test_a_group_can_be_named_and_user_names_are_lower_case(tmp_path):
    path = write(tmp_path, "Alice = staff\nDOMAIN\\Bob=Admins\n")
    assert read_group_file(path, GROUPS) == {"alice": "staff", "domain\\bob": "admins"}


def test_comments_blank_lines_crlf_and_a_bom_are_read_as_e2guardian_reads_them(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"\xef\xbb\xbf# Filter Groups List file\r\n\r\n"
                     b"daniel=filter2 # a teacher\r\n#carol=filter3\r\n")
    assert read_group_file(path, GROUPS) == {"daniel": "staff"}


def test_the_shipped_e2guardian_example_is_empty_but_valid(tmp_path):
    example = ("# Filter Groups List file for DansGuardian\n#\n"
               "# Format is <user>=filter<1-9> where 1-9 are the groups\n#\n# Eg:\n"
               "# daniel=filter2\n#\n"
               "# This file is only of use if you have more than 1 filter group\n#\n")
    assert read_group_file(write(tmp_path, example), GROUPS) == {}


def test_include_reads_a_file_relative_to_the_including_one(tmp_path):
    (tmp_path / "more").mkdir()
    write(tmp_path / "more", "eve=filter3\n", "staff-list")
    path = write(tmp_path, "daniel=filter2\n.Include<more/staff-list>\n")
    assert read_group_file(path, GROUPS) == {"daniel": "staff", "eve": "admins"}


def test_every_bad_line_is_named_by_file_and_line(tmp_path):
    path = write(tmp_path, "ok=filter1\nno equals sign\n=filter2\nbob=\nx=filter9\n"
                           "y=staf\n.Include<missing>\n")
    with pytest.raises(GroupFileError) as err:
        read_group_file(path, GROUPS)
    message = str(err.value)
    assert f"{path}:2: expected USER=filterN or USER=GROUP" in message
    assert f"{path}:3: expected" in message and f"{path}:4: expected" in message
    assert (f"{path}:5: no group 'filter9': the configuration has 3 group(s) "
            "(filter1 = pupils, filter2 = staff, filter3 = admins)") in message
    assert f"{path}:6: no group 'staf' (did you mean 'staff'?)" in message
    assert f"{path}:7: cannot include {tmp_path / 'missing'}: no such file" in message
    assert len(err.value.problems) == 6


def test_a_user_in_two_groups_is_an_error_naming_the_first_line(tmp_path):
    path = write(tmp_path, "alice=filter2\nALICE=filter2\nalice=filter1\n")
    with pytest.raises(GroupFileError, match=rf"{path}:3: 'alice' is already in group "
                                             rf"'staff' \({path}:1\)"):
        read_group_file(path, GROUPS)


def test_an_include_cycle_and_invalid_utf8_are_errors_not_hangs(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b".Include<f>\n\xff=filter1\n")
    with pytest.raises(GroupFileError) as err:
        read_group_file(path, GROUPS)
    assert err.value.problems == [f"{path}:1: include cycle: {path}",
                                  f"{path}:2: invalid UTF-8"]


@pytest.mark.parametrize("included", ["a\x00b", "loop"])
def test_an_include_of_an_unusable_path_is_an_error_naming_the_line(tmp_path, included):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")  # a symbolic link to itself
    path = write(tmp_path, f"alice=filter1\n.Include<{included}>\n")
    with pytest.raises(GroupFileError) as err:
        read_group_file(path, GROUPS)
    assert [p.partition(": cannot include")[0] for p in err.value.problems] == [f"{path}:2"]


def test_filter_n_takes_ascii_digits_only(tmp_path):
    path = write(tmp_path, "alice=filter\u0661\n")  # ARABIC-INDIC DIGIT ONE
    with pytest.raises(GroupFileError, match="no group 'filter\u0661'"):
        read_group_file(path, GROUPS)


def test_a_long_list_of_problems_is_cut_with_a_count(tmp_path):
    path = write(tmp_path, "".join(f"u{i}=nosuch\n" for i in range(MAX_SHOWN + 5)))
    with pytest.raises(GroupFileError) as err:
        read_group_file(path, GROUPS)
    assert str(err.value).endswith("... and 5 more")
    assert len(str(err.value).splitlines()) == MAX_SHOWN + 1


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_any_bytes_give_a_mapping_or_a_located_error(tmp_path, data):
    path = tmp_path / "any"
    path.write_bytes(data)
    try:
        users = read_group_file(path, GROUPS)
    except GroupFileError as exc:
        assert all(p.startswith(str(tmp_path)) for p in exc.problems)
    else:
        assert set(users.values()) <= set(GROUPS)


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9._\\@-]{0,15}", fullmatch=True),
                       st.sampled_from(GROUPS), max_size=20))
def test_a_written_mapping_reads_back(users):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f"
        path.write_text("".join(f"{u}=filter{GROUPS.index(g) + 1}\n" for u, g in users.items()))
        assert read_group_file(path, GROUPS) == users
