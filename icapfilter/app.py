"""Composition root: configuration in, a running policy out. Nothing global."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from .accesslog import AccessLog
from .blockpage import BlockPage
from .config import Config
from .policy import AllowAll, Policy
from .server.handler import Recorder
from .server.runner import Built


def build_policy(config: Config) -> Policy:
    return AllowAll()


def build(config: Config) -> Built:
    template = config.blockpage.template
    page = BlockPage.from_file(Path(template)) if template else BlockPage.default()
    return Built(config=config, policy=build_policy(config), blockpage=page)


def make_recorder(config: Config) -> Recorder | None:
    if not config.log.access:
        return None
    if config.log.access == "-":
        log_format = config.log.format

        def to_stdout(outcome, peer, error):  # type: ignore[no-untyped-def]
            print(AccessLog.format_line(_Fmt(log_format), outcome, peer, error,
                                        outcome.duration_ms), flush=True)
        return to_stdout
    return AccessLog(config.log.access, config.log.format)


class _Fmt:
    def __init__(self, fmt: str) -> None:
        self.format = fmt


def setup_logging(config: Config) -> None:
    level = getattr(logging, config.log.level.upper())
    handlers: list[logging.Handler] = []
    if config.log.error:
        handlers.append(logging.handlers.WatchedFileHandler(config.log.error))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    if config.log.syslog:
        address = "/var/run/log" if Path("/var/run/log").exists() else "/dev/log"
        syslog = logging.handlers.SysLogHandler(address=address)
        syslog.setFormatter(logging.Formatter("icapfilter[%(process)d]: %(message)s"))
        handlers.append(syslog)
    fmt = logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(message)s")
    for handler in handlers[:1]:
        handler.setFormatter(fmt)
    logging.basicConfig(level=level, handlers=handlers, force=True)
