"""Groups from the directory through a real Squid: Squid authenticates the
user, an external ACL helper (tests/squid_group_helper.py, in place of
ext_ldap_group_acl) decides membership of "staff", and adaptation_meta names
the group to icapfilter in X-Icapfilter-Group. The user-to-group file places
users Squid only names. Staff have their own phrase lists."""

from __future__ import annotations

import base64
import re
import shutil
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.icapserver import serving
from tests.squidserver import Squid, helper_dir, open_to_squid, write_lists

pytestmark = [pytest.mark.integration, pytest.mark.squid]

ROOT = Path(__file__).resolve().parent.parent.parent
HELPER = ROOT / "tests" / "squid_group_helper.py"
FAKE_AUTH = "/usr/lib/squid/basic_fake_auth"


GROUPS_BLOCK = "# --- Groups from the directory: Squid names the filter group"


def squid_lines(helper: Path) -> str:
    """The commented groups block of squid.conf.example, uncommented, with the
    helper script in place of ext_ldap_group_acl, after basic authentication
    (any password) that gives Squid the user name: the lines the admin is told
    to use."""
    block = (ROOT / "squid.conf.example").read_text().split(GROUPS_BLOCK, 1)[1]
    lines = [ln[2:] for ln in block.split("\n# ---", 1)[0].splitlines()
             if re.match(r"# (external_acl_type|acl|http_access|adaptation_meta) ", ln)]
    assert len(lines) == 4, lines
    lines[0] = lines[0].split("%LOGIN", 1)[0] + f"%LOGIN /usr/bin/python3 {helper} staff=alice"
    return f"""
auth_param basic program {FAKE_AUTH}
auth_param basic children 2
auth_param basic realm test
acl authenticated proxy_auth REQUIRED
http_access deny !authenticated
""" + "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def squid(tmp_path_factory, origin):
    if not Path(FAKE_AUTH).exists():
        pytest.skip("Squid's basic_fake_auth is not installed")
    root = tmp_path_factory.mktemp("groups")
    bl, phrases = write_lists(root)
    staff_phrases = root / "staff-phrases"
    staff_phrases.mkdir()
    (staff_phrases / "bannedphraselist").write_text("<staffonlyword>\n")
    users = root / "filtergroupslist"
    users.write_text("# e2guardian format\ncarol=filter2\n")
    config = root / "icapfilter.toml"
    config.write_text(f"""
[lists]
paths = ["{bl}"]

[phrases]
dir = "{phrases}"

[users]
groups_file = "{users}"

[[groups]]
name = "pupils"
block = ["adult", "gambling"]

[[groups]]
name = "staff"
block = ["adult"]
phrase_dir = "{staff_phrases}"
""")
    with ExitStack() as running, helper_dir("icapfilter-groups-") as folder:
        shutil.copy(HELPER, folder / HELPER.name)
        open_to_squid(folder)
        port = running.enter_context(serving(config))
        proxy = running.enter_context(Squid(port, extra=squid_lines(folder / HELPER.name)))
        yield proxy, origin


def get(squid, origin, user: str | None, host: str, path: str = "/page/100"):  # type: ignore[no-untyped-def]
    headers = {}
    if user:
        token = base64.b64encode(f"{user}:secret".encode()).decode()
        headers["Proxy-Authorization"] = f"Basic {token}"
    return squid.get(origin.url(host, path), headers=headers)


def test_a_pupil_is_refused_the_gambling_site(squid):
    proxy, origin = squid
    got = get(proxy, origin, "bob", "other.test")
    assert got.status == 403 and b"gambling" in got.body


def test_a_staff_member_by_the_directory_gets_the_page_pupils_are_refused(squid):
    proxy, origin = squid
    assert get(proxy, origin, "alice", "other.test").status == 200
    assert get(proxy, origin, "alice", "blocked.example.test").status == 403  # staff block adult


def test_the_user_file_places_a_user_squid_only_names(squid):
    proxy, origin = squid
    assert get(proxy, origin, "Carol", "other.test").status == 200


def test_staff_pages_are_scanned_with_the_staff_phrase_lists(squid):
    proxy, origin = squid
    assert get(proxy, origin, "bob", "www.example.test", "/bad/2000").status == 403
    assert get(proxy, origin, "alice", "www.example.test", "/bad/2000").status == 200
    words = "/words/2000?w=staffonlyword"
    assert get(proxy, origin, "alice", "www.example.test", words).status == 403
    assert get(proxy, origin, "bob", "www.example.test", words).status == 200


def test_without_credentials_squid_asks_for_them(squid):
    proxy, origin = squid
    assert get(proxy, origin, None, "www.example.test").status == 407
