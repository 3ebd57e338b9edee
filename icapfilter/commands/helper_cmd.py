"""``icapfilter squid-helper``: the URL lists as a Squid external ACL helper.

Squid asks the helper over a pipe instead of sending every request through ICAP
REQMOD, which costs Squid more CPU than the lookup itself (docs/squid-helper.md):
for the URL verdict, and with learned mode for whether RESPMOD can be skipped.
The decisions are the ICAP server's: same configuration, same ``build_policy``,
same ``decide_request``.
"""

from __future__ import annotations

import logging
import sys

import click

from icapfilter.commands.startup import startup_errors
from icapfilter.config import load_config


@click.command("squid-helper")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file (TOML), the one `icapfilter serve` uses.")
@click.option("--redis", "redis_url", help="Redis URL of the list store (overrides [store] redis).")
@click.option("--concurrency/--no-concurrency", default=None,
              help="Every line starts with a channel ID (Squid's concurrency=N, N>0), or none "
                   "does (concurrency=0). Default: a first field of digits only is an ID.")
@click.option("--no-shared", is_flag=True,
              help="Load the policy in this process instead of forking from the shared helper "
                   "process of this configuration (docs/squid-helper.md, memory).")
def squid_helper(config_path: str | None, redis_url: str | None,
                 concurrency: bool | None, no_shared: bool = False) -> None:
    """Answer Squid external_acl_type lookups (format: %>a %un %URI) on stdin/stdout.

    Replies OK (block, with message= and tag=) or ERR (allow), one line per
    lookup; BH for a line it cannot read. With the acl argument learned-clean,
    OK means the page was learned clean (Squid may skip RESPMOD). Logs go to
    stderr (Squid's cache.log) or to [log] error. Exits on end of input.
    """
    from icapfilter.app import build_policy, setup_logging
    from icapfilter.helperpolicy import helper_policy, log_ready
    from icapfilter.squidhelper import serve

    with startup_errors("icapfilter squid-helper"):
        config = load_config(config_path).with_overrides(store={"redis": redis_url})
        setup_logging(config)
        policy = helper_policy(config, build_policy)  # phrase lists only when asked
    log = logging.getLogger("icapfilter.squidhelper")
    log_ready(config, concurrency)
    try:
        answered = serve(policy, sys.stdin.fileno(), sys.stdout.fileno(), concurrency)
    except KeyboardInterrupt:
        sys.exit(0)
    except BrokenPipeError:
        sys.exit(0)
    log.info("squid-helper: end of input after %d lookups", answered)
