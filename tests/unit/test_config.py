"""The configuration parser: strict, typed, and the sample stays true."""

from __future__ import annotations

from pathlib import Path

import pytest

from icapfilter.config import Config, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_sample_configuration_parses_and_matches_the_defaults():
    sample = load_config(ROOT / "icapfilter.conf.sample")
    defaults = Config()
    for section in ("server", "store", "lists", "phrases", "learned", "ratelimit", "log"):
        assert getattr(sample, section) == getattr(defaults, section), section
    assert sample.groups == defaults.groups


@pytest.mark.parametrize("text,needle", [
    ("[server]\nlistn = 1", "unknown key 'listn'"),
    ("[srv]\n", "unknown section [srv]"),
    ("[server]\nworkers = \"2\"", "workers: expected int"),
    ("[server]\nworkers = 0", "workers must be >= 1"),
    ("[server]\nlisten = \"nowhere\"", "HOST:PORT"),
    ("[store]\non_error = \"maybe\"", "on_error must be one of block, allow"),
    ("[store]\nredis = \"http://x\"", "redis://"),
    ("[phrases]\nfilter_mode = \"fast\"", "filter_mode"),
    ("[[groups]]\nname = \"a\"\nclients = [\"10.0.0.300/8\"]", "neither an IP/CIDR"),
    ("[[groups]]\nname = \"a\"\n[[groups]]\nname = \"a\"", "unique"),
    ("[server\n", "f.toml"),
    ("[server]\nthreads = 100000", "[server]: threads must be <= 1024, got 100000"),
    ("[server]\nworkers = 100000", "workers must be <= 256"),
    ("[server]\nmax_connections = 10000000", "max_connections must be <= 100000"),
    ("[store]\nredis = \"foo://bar\"", "[store]: redis: must be a redis://"),
    ("[store]\nredis = \"redis://h:port/0\"", "[store]: redis: not a valid Redis URL: Port"),
    ("[server]\nidle_timeout = inf", "idle_timeout must be > 0 and <= 86400 seconds, got inf"),
    ("[server]\nread_timeout = nan", "read_timeout must be > 0 and <= 86400 seconds, got nan"),
    ("[server]\nhead_timeout = 0", "head_timeout must be > 0"),
    ("[server]\noptions_ttl = -5", "options_ttl must be >= 0"),
    ("[server]\npreview = 1000000000", "preview must be <= 1048576"),
    ("[stats]\ninterval = 1e-300", "[stats]: interval must be >= 0.1 and <= 3600 seconds"),
    ("[learned]\nttl = 10000000000000000000", "[learned]: ttl must be <= 31536000"),
    ("[phrases]\nmax_decoded_bytes = 100000000000000", "max_decoded_bytes must be <= 1073741824"),
    ("[server]\nallowed_clients = [\"foo\"]", "[server]: allowed_clients: 'foo' does not"),
])
def test_bad_values_name_file_key_and_what_is_allowed(text, needle):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "f.toml")
    assert needle in str(info.value)
    assert str(info.value).startswith("f.toml")


def test_command_line_overrides_are_validated():
    config = parse_config("[server]\nworkers = 2\n").with_overrides(server={"workers": 3})
    assert config.server.workers == 3
    with pytest.raises(ConfigError):
        Config().with_overrides(server={"listen": "bad"})


def test_groups_take_users_and_networks():
    config = parse_config('[[groups]]\nname = "kids"\nclients = ["10.0.0.0/8", "user:bob"]\n')
    assert config.groups[0].clients == ["10.0.0.0/8", "user:bob"]


def test_a_bad_redis_url_is_reported_without_its_password():
    with pytest.raises(ConfigError) as info:
        parse_config('[store]\nredis = "redis://user:s3cret@h:port/0"\n', "f.toml")
    assert "s3cret" not in str(info.value)
