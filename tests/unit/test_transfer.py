"""The Transfer-* lists: the server advertises what the policy assumes."""

from __future__ import annotations

from icapfilter.config import ServerConfig, parse_config
from icapfilter.server.runner import protocol_settings
from icapfilter.transfer import TRANSFER_COMPLETE, TransferLists


def test_defaults_ignore_nothing_and_complete_pages():
    lists = TransferLists.from_config(ServerConfig())
    assert (lists.preview, lists.ignore, lists.complete) == ("*", "", TRANSFER_COMPLETE)
    assert lists.ignored_extensions() == frozenset()


def test_ignored_extensions_are_lower_case_without_the_wildcard():
    lists = TransferLists(ignore=" PNG, svg ,*, ")
    assert lists.ignored_extensions() == {"png", "svg"}


def test_the_server_advertises_the_lists_the_policy_reads():
    for text in ("", '[server]\ntransfer_ignore = "png, gif"\ntransfer_complete = "php"\n'):
        config = parse_config(text)
        lists = TransferLists.from_config(config.server)
        options = protocol_settings(config)
        assert (options.transfer_preview, options.transfer_ignore,
                options.transfer_complete) == (lists.preview, lists.ignore, lists.complete)
