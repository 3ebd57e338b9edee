"""The ``icapfilter`` command's entry point.

``squid-helper`` children first try the launcher (:mod:`.helperlaunch`),
which must not import the command-line framework or the filter: that is
the memory a helper child saves. Everything else, and the helper when the
launcher declines, goes to :mod:`.cli`.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["squid-helper"]:
        from .helperlaunch import run

        code = run(sys.argv[2:])
        if code is not None:
            sys.exit(code)
    from .cli import main as cli_main

    cli_main()
