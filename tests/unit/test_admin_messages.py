"""Messages an admin reads: they name the key, file or address, and what to do."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace

import pytest

from icapfilter.commands.preflight import problems
from icapfilter.commands.url_hint import bad_character
from icapfilter.config import ConfigError, parse_config
from icapfilter.listnotes import report_phrase_problems
from icapfilter.phrases.model import LoadError
from icapfilter.phrases.phraseset import DEAD_PREFIX, PhraseSet
from icapfilter.policy import AllowAll
from icapfilter.startup_summary import NOTHING_BLOCKED, describe, lists_line, plural


@pytest.mark.parametrize("text,needle", [
    ("[server]\nthreds = 3\n", "[server]: unknown key 'threds' (did you mean 'threads'?)"),
    ("[sever]\n", "unknown section [sever] (did you mean 'server'?)"),
    ("[[group]]\nname = 'x'\n", "unknown section [group] (did you mean 'groups'?)"),
    ("[log]\nxyz = 1\n", "unknown key 'xyz' (known: access, "),
])
def test_unknown_keys_and_sections_get_a_did_you_mean(text, needle):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "f.toml")
    assert needle in str(caught.value) and "f.toml" in str(caught.value)


@pytest.mark.parametrize("url,needle", [
    ("http://exa\x07mple.com/", "a control character (U+0007) at character 11"),
    ("http://a b/", "a space at character 9"),
    ("http://a\tb/", "percent-encode it (%09)"),
])
def test_a_url_with_a_control_character_is_explained_plainly(url, needle):
    assert needle in (bad_character(url) or "")


def test_a_clean_url_has_no_bad_character():
    assert bad_character("http://example.com/a%20b") is None


def test_a_port_in_use_names_the_key_and_how_to_find_the_holder():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        found = problems(parse_config(f'[server]\nlisten = "127.0.0.1:{port}"\n'), starting=True)
    text = " ".join(map(str, found))
    assert f"[server] listen: cannot listen on 127.0.0.1:{port}: Address already in use" in text
    assert f"sport = :{port}" in text and "change [server] listen" in text


def test_an_unwritable_pid_file_names_the_key_and_what_to_do(tmp_path):
    found = problems(parse_config(f'[server]\npid_file = "{tmp_path}/no/x.pid"\n'))
    text = " ".join(map(str, found))
    assert "[server] pid_file: cannot write" in text
    assert "give [server] pid_file a path this user may write" in text


def test_known_phrase_list_warnings_are_one_summary_line(caplog):
    errors = [LoadError("a/weighted", n, f"{DEAD_PREFIX} x", "warning") for n in range(1, 6)]
    errors.append(LoadError("b/banned", 3, "no closing '>'", "warning"))
    errors.append(LoadError("b/banned", 9, "unreadable include", "error"))
    caplog.set_level(logging.DEBUG)
    notes = report_phrase_problems(errors, PhraseSet([], []), logging.getLogger("icapfilter"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2  # the error in full, the warnings summed up
    assert "b/banned:9: error: unreadable include" in warnings[0]
    assert "6 known problems in 2 files: 5 entries never match" in warnings[1]
    details = [r.getMessage() for r in caplog.records if r.name == "icapfilter.list_errors"]
    assert any("a/weighted: 5 entries never match" in d for d in details)
    assert (notes.dead, notes.warnings, notes.errors) == (5, 1, 1)


def test_a_server_with_nothing_configured_says_it_blocks_nothing():
    loaded = describe(parse_config(""), AllowAll())
    assert loaded.blocks_nothing == NOTHING_BLOCKED
    assert lists_line(loaded) == "URL lists: none configured ([lists] paths)"


def test_counts_are_written_in_words():
    assert plural(1, "entry") == "1 entry" and plural(3, "category") == "3 categories"
    assert plural(0, "worker") == "0 workers"


def test_serve_with_a_missing_list_names_the_file_and_the_key(tmp_path):
    from click.testing import CliRunner

    from icapfilter.cli import main
    from tests.redisserver import free_port

    conf = tmp_path / "c.toml"
    conf.write_text(f'[server]\nlisten = "127.0.0.1:{free_port()}"\n'
                    f'[lists]\npaths = ["{tmp_path / "nope.tar.gz"}"]\n')
    result = CliRunner().invoke(main, ["serve", "--config", str(conf)])
    assert result.exit_code == 2
    assert result.output.startswith(f"icapfilter: configuration error: {conf}: [lists] paths: ")
    assert "nope.tar.gz" in result.output and "Traceback" not in result.output


def test_config_check_sums_up_phrase_list_warnings_unless_asked_for_each(tmp_path):
    import subprocess
    import sys

    banned = tmp_path / "banned"
    banned.write_text("<good>\n<bad\n<also bad\n")
    conf = tmp_path / "c.toml"
    conf.write_text(f'[phrases]\nbanned = ["{banned}"]\n')

    def config_check(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "icapfilter", "config", "check", str(conf),
                               *extra], capture_output=True, text=True, timeout=60)

    summary = config_check()
    assert summary.returncode == 0
    assert summary.stderr == ("phrase lists: 2 known problems in 1 file: 2 lines read as "
                              "e2guardian reads them; --show-list-errors lists them (the "
                              'server: [log] level = "debug")\n')
    every = config_check("--show-list-errors")
    assert every.returncode == 0
    assert f"{banned}:2: warning: no closing '>'" in every.stderr
    assert f"{banned}:3: warning" in every.stderr


@pytest.mark.parametrize("url", [
    "redis://:s3cret@10.0.0.5:6379/0",
    "redis://user:s3cret@10.0.0.5:6379/0",
    "redis://10.0.0.5:6379/0?password=s3cret&socket_timeout=1",
    "unix:///run/redis/redis.sock?db=0&password=s3cret",
])
def test_the_store_named_in_summaries_and_status_files_holds_no_password(url):
    config = parse_config("")
    config = replace(config, store=replace(config.store, redis=url))
    store = describe(config, AllowAll()).store
    assert "s3cret" not in store and store.startswith(url.split("://")[0] + "://")
