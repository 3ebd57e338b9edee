"""File types a group may not download: blocked by the URL's file name at
REQMOD, by Content-Type, sniffed type and Content-Disposition at RESPMOD,
with e2guardian's exception lists overriding bans of their own kind."""

from __future__ import annotations

import pytest

from icapfilter.app import BuildError, build_policy
from icapfilter.config import ConfigError, GroupConfig
from icapfilter.config.loading import parse_config
from icapfilter.icap.messages import Headers
from icapfilter.policy import Client, RequestInfo, ResponseInfo
from icapfilter.policy.filetype_scan import TypeSniffScan, sniff_types
from icapfilter.policy.filetypes import CATEGORY, REASON
from icapfilter.urls.loader import load_lists
from icapfilter.urls.memory_store import MemoryStore
from icapfilter.verdict import Verdict
from tests.policyfixtures import make_policy

PE = (b"MZ" + b"\x90" * 58 + (0x80).to_bytes(4, "little") + b"\x00" * (0x80 - 64)
      + b"PE\x00\x00" + b"\x00" * 3000)
PUPILS = GroupConfig(name="default", block_types=["application/x-msdownload", "video/*"],
                     block_extensions=["exe", ".MSI", "tar.gz"])


def request(url: str, method: str = "GET") -> RequestInfo:
    return RequestInfo(Client("10.0.0.1"), method, url, Headers())


def response(*headers: tuple[str, str], status: int = 200) -> ResponseInfo:
    return ResponseInfo(status, Headers.of(headers))


def decide(policy, headers, body: bytes = b"") -> Verdict:  # type: ignore[no-untyped-def]
    decision = policy.begin_response(request("http://dl.test/get"), response(*headers))
    if isinstance(decision, Verdict):
        return decision
    decision.feed(body)
    return decision.finish()


@pytest.fixture
def policy():
    return make_policy([PUPILS])


@pytest.mark.parametrize("url", ["http://dl.test/setup.exe", "http://dl.test/Setup.EXE",
                                 "http://dl.test/setup.exe.", "http://dl.test/setup%2Eexe",
                                 "http://dl.test/a/b/setup.exe?v=2", "http://dl.test/x.msi",
                                 "http://dl.test/src.tar.gz", "http://dl.test/setup.exe;x=1"])
def test_request_for_a_banned_extension_is_blocked(policy, url):
    verdict = policy.decide_request(request(url))
    assert verdict.blocked and verdict.category == CATEGORY
    assert verdict.reason.startswith(REASON)


@pytest.mark.parametrize("url", ["http://dl.test/setup.txt", "http://dl.test/exe",
                                 "http://dl.test/download.php?file=setup.exe",
                                 "http://dl.test/search?q=setup.exe", "http://dl.test/a.gz",
                                 "http://dl.test/setup.exe/"])
def test_request_without_a_banned_file_name_passes(policy, url):
    assert not policy.decide_request(request(url)).blocked


def test_connect_is_not_judged_by_file_name(policy):
    assert not policy.decide_request(request("setup.exe:443", "CONNECT")).blocked


@pytest.mark.parametrize("content_type", ["application/x-msdownload",
                                          "Application/X-MSDownload; charset=binary",
                                          "application/x-dosexec",  # an alias
                                          "video/mp4", "VIDEO/webm"])
def test_response_of_a_banned_type_is_blocked(policy, content_type):
    verdict = decide(policy, [("Content-Type", content_type)])
    assert verdict.blocked and verdict.category == CATEGORY


@pytest.mark.parametrize("disposition", [
    'attachment; filename="setup.exe"', "attachment; filename*=UTF-8''setup%2Eexe",
    "attachment; filename=SETUP.EXE.", 'attachment; filename="notes.txt"; filename=x.msi',
])
def test_response_with_a_banned_file_name_is_blocked(policy, disposition):
    verdict = decide(policy, [("Content-Type", "text/plain"),
                              ("Content-Disposition", disposition)])
    assert verdict.blocked and verdict.category == CATEGORY


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "unknown/unknown"])
def test_response_without_a_usable_type_is_judged_by_its_sniffed_type(policy, content_type):
    headers = [("Content-Type", content_type)] if content_type else []
    assert decide(policy, headers, PE).blocked
    assert not decide(policy, headers, b"just some text " * 200).blocked


def test_sniffing_waits_for_the_first_bytes_then_hands_over():
    scan = TypeSniffScan(lambda mimes: None, Verdict.allow("inner"), None)
    scan.feed(PE[:100])
    assert not scan.certain
    scan.feed(PE[100:])
    assert scan.certain and scan.finish().reason == "inner"


def test_a_provisional_answer_before_the_first_bytes_leaves_the_type_undecided():
    scan = TypeSniffScan(lambda mimes: Verdict.block("x") if _PE_NAME in mimes else None,
                         Verdict.allow("inner"), None)
    scan.feed(PE[:10])  # "MZ" and 8 bytes: too few to tell an executable
    assert not scan.provisional().blocked and not scan.certain
    scan.feed(PE[10:])
    assert scan.certain and scan.provisional().blocked


def test_sniffing_a_gzip_encoded_body_looks_at_the_decoded_bytes():
    import gzip

    scan = TypeSniffScan(lambda mimes: Verdict.block("x") if _PE_NAME in mimes else None,
                         Verdict.allow("inner"), "gzip")
    scan.feed(gzip.compress(PE))
    assert scan.finish().blocked


_PE_NAME = "application/x-msdownload"


@pytest.mark.parametrize(("head", "expected"), [
    (PE, "application/x-msdownload"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "application/x-executable"),
    (b"MZ is how this text starts, and it goes on " * 5, "text/plain"),
    (b"PK\x03\x04" + b"\x00" * 30, "application/zip"),
])
def test_sniffed_types(head, expected):
    assert expected in sniff_types(head)


def test_a_page_type_is_never_held_for_sniffing(policy):
    decision = policy.begin_response(request("http://dl.test/"),
                                     response(("Content-Type", "text/html")))
    assert isinstance(decision, Verdict) and not decision.blocked


def test_exception_lists_override_bans_of_their_kind_only():
    group = GroupConfig(name="default", block_types=["application/*"],
                        allow_types=["application/pdf"], block_extensions=["gz"],
                        allow_extensions=["tar.gz"])
    policy = make_policy([group])
    assert not decide(policy, [("Content-Type", "application/pdf")]).blocked
    assert decide(policy, [("Content-Type", "application/zip")]).blocked
    assert not policy.decide_request(request("http://dl.test/src.tar.gz")).blocked
    assert policy.decide_request(request("http://dl.test/log.gz")).blocked
    # an excepted type does not excuse a banned file name
    assert decide(policy, [("Content-Type", "application/pdf"),
                           ("Content-Disposition", "attachment; filename=x.gz")]).blocked


def test_a_url_exception_skips_file_type_checks(tmp_path):
    (tmp_path / "exceptionsitelist").write_text("trusted.test\n")
    store = MemoryStore()
    load_lists(store, [tmp_path / "exceptionsitelist"])
    policy = make_policy([PUPILS], store)
    assert not policy.decide_request(request("http://trusted.test/setup.exe")).blocked
    assert policy.decide_request(request("http://other.test/setup.exe")).blocked


def test_other_groups_are_untouched():
    staff = GroupConfig(name="staff", clients=["10.9.0.0/16"])
    policy = make_policy([PUPILS, staff])
    staff_request = RequestInfo(Client("10.9.0.1"), "GET", "http://dl.test/setup.exe", Headers())
    assert not policy.decide_request(staff_request).blocked


def test_e2guardian_lists_are_read_with_comments_and_includes(tmp_path):
    (tmp_path / "more").write_text(".msi  # installer\n")
    (tmp_path / "bannedextensionlist").write_text(
        "#Banned extension list\n\n.exe  # Program\n.Include<more>\n")
    (tmp_path / "bannedmimetypelist").write_text("# banned\naudio/mpeg\n")
    (tmp_path / "exceptionextensionlist").write_text(".zip\n")
    group = GroupConfig(name="default", block_types=["application/zip"],
                        block_extensions=["zip"],
                        filetype_lists=[str(tmp_path / n) for n in (
                            "bannedextensionlist", "bannedmimetypelist",
                            "exceptionextensionlist")])
    policy = make_policy([group])
    assert policy.decide_request(request("http://dl.test/a.exe")).blocked
    assert policy.decide_request(request("http://dl.test/a.msi")).blocked
    assert not policy.decide_request(request("http://dl.test/a.zip")).blocked
    assert decide(policy, [("Content-Type", "audio/mpeg")]).blocked


def config(body: str):  # type: ignore[no-untyped-def]
    return parse_config(f'[[groups]]\nname = "default"\n{body}\n', "t.conf")


def test_a_bad_list_line_is_a_file_line_error(tmp_path):
    path = tmp_path / "bannedmimetypelist"
    path.write_text("audio/mpeg\nnot a type\n")
    where = rf'"default" filetype_lists: {path}:2: '
    with pytest.raises(BuildError, match=where + "'not a type' is not a MIME type"):
        build_policy(config(f'filetype_lists = ["{path}"]'))


def test_a_list_with_an_unknown_name_is_refused(tmp_path):
    path = tmp_path / "mylist"
    path.write_text(".exe\n")
    with pytest.raises(BuildError, match="must be named bannedmimetypelist"):
        build_policy(config(f'filetype_lists = ["{path}"]'))


def test_a_missing_list_is_an_error(tmp_path):
    with pytest.raises(BuildError, match="cannot read"):
        build_policy(config(f'filetype_lists = ["{tmp_path}/bannedextensionlist"]'))


def test_an_include_loop_is_an_error(tmp_path):
    path = tmp_path / "bannedextensionlist"
    path.write_text(".Include<bannedextensionlist>\n")
    with pytest.raises(BuildError, match="loop"):
        build_policy(config(f'filetype_lists = ["{path}"]'))


@pytest.mark.parametrize("included", ["a\x00b", "loop"])
def test_an_include_of_an_unusable_path_is_a_file_line_error(tmp_path, included):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")  # a symbolic link to itself
    path = tmp_path / "bannedextensionlist"
    path.write_text(f".exe\n.Include<{included}>\n")
    with pytest.raises(BuildError, match=rf"{path}:2: cannot read"):
        build_policy(config(f'filetype_lists = ["{path}"]'))


@pytest.mark.parametrize(("body", "message"), [
    ('block_types = ["exe"]', "block_types: 'exe' is not a MIME type"),
    ('block_types = ["*/html"]', "only the subtype can be"),
    ('allow_types = ["text/ html"]', "allow_types"),
    ('block_extensions = ["."]', "block_extensions: '.' is not a file-name extension"),
    ('block_extensions = ["a/b"]', "not a file-name extension"),
])
def test_bad_keys_are_config_errors(body, message):
    with pytest.raises(ConfigError, match=message):
        config(body)


def test_file_types_alone_make_a_policy_without_lists():
    policy = build_policy(config('block_extensions = ["exe"]'))
    assert policy.decide_request(request("http://dl.test/setup.exe")).blocked


@pytest.mark.parametrize("name", ["." * 60_000, "a." * 30_000 + "exe", "x" * 60_000 + ".exe"])
def test_a_huge_file_name_is_judged_in_linear_time(policy, name):
    import time

    started = time.monotonic()
    verdict = decide(policy, [("Content-Type", "text/plain"),
                              ("Content-Disposition", f'attachment; filename="{name}"')])
    assert verdict.blocked == name.endswith(".exe")
    assert time.monotonic() - started < 1.0
    assert len(verdict.reason) < 200  # the block page shows the name's end only


@pytest.mark.parametrize("content_type", [None, "", "nonsense"])
def test_a_missing_or_unusable_type_is_judged_by_the_body_even_when_all_types_are_banned(
        content_type):
    group = GroupConfig(name="default", block_types=["*/*"], allow_types=["text/plain"])
    policy = make_policy([group])
    headers = [] if content_type is None else [("Content-Type", content_type)]
    assert not decide(policy, headers, b"plain words " * 200).blocked
    assert decide(policy, headers, PE).blocked
    assert decide(policy, [("Content-Type", "text/html")]).blocked


def test_check_says_what_reqmod_answers(tmp_path):
    import json

    from click.testing import CliRunner

    from icapfilter.cli import main

    (tmp_path / "bl" / "adult").mkdir(parents=True)
    (tmp_path / "bl" / "adult" / "domains").write_text("porn.test\n")
    config = tmp_path / "icapfilter.toml"
    config.write_text(f'[lists]\npaths = ["{tmp_path / "bl"}"]\n'
                      '[[groups]]\nname = "default"\nblock_extensions = ["exe"]\n'
                      'safesearch = true\n')
    result = CliRunner().invoke(main, ["check", "--config", str(config), "--json",
                                       "http://dl.test/setup.exe", "http://dl.test/a.txt",
                                       "http://www.google.com/search?q=a"])
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [(r["verdict"], r["category"]) for r in lines] == [
        ("block", "filetype"), ("allow", None), ("allow", None)], result.output
    assert lines[2]["reason"] == "safesearch: google"


def test_the_generation_changes_with_the_file_type_rules():
    plain = make_policy([GroupConfig(name="default")])
    exe = make_policy([GroupConfig(name="default", block_extensions=["exe"])])
    msi = make_policy([GroupConfig(name="default", block_extensions=["msi"])])
    same = make_policy([GroupConfig(name="default", block_extensions=[".EXE"])])
    assert len({plain.generation, exe.generation, msi.generation}) == 3
    assert same.generation == exe.generation
