"""All configuration, typed and validated in one place.

The file is TOML. Parsing is strict: an unknown section or key is an error
(a typo must not silently disable filtering, as a missing
``weightedphrasemode`` once did in e2guardian), and a wrong value names the
file, the key and what is allowed. Command-line options override the file
through :func:`dataclasses.replace` on the loaded value.
"""

from __future__ import annotations

from .checks import ConfigError, check_redis_url, parse_listen
from .groups import GroupConfig, UsersConfig
from .loading import Config, load_config, parse_config
from .output import BlockPageConfig, LogConfig, StatsConfig
from .sections import (
    LearnedConfig,
    ListsConfig,
    PhrasesConfig,
    RateLimitConfig,
    ServerConfig,
    StoreConfig,
)

__all__ = [
    "BlockPageConfig",
    "Config",
    "ConfigError",
    "GroupConfig",
    "LearnedConfig",
    "ListsConfig",
    "LogConfig",
    "PhrasesConfig",
    "RateLimitConfig",
    "ServerConfig",
    "StatsConfig",
    "StoreConfig",
    "UsersConfig",
    "check_redis_url",
    "load_config",
    "parse_config",
    "parse_listen",
]
