#!/usr/bin/env python3
"""A stand-in for ``ext_ldap_group_acl`` in the Squid tests: the same
external ACL helper protocol, with the directory given on the command line.

    squid_group_helper.py staff=alice,dave teachers=erin

Squid writes one request a line, ``USER GROUP...`` (each field %-encoded,
from ``external_acl_type ... %LOGIN`` and the ACL's arguments), and reads
``OK`` when the user is in one of the groups, else ``ERR``. Standard library
only: Squid runs it as its own unprivileged user with the system Python.
"""

from __future__ import annotations

import sys
from urllib.parse import unquote


def members(args: list[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for arg in args:
        group, _, users = arg.partition("=")
        found[group] = {u.lower() for u in users.split(",") if u}
    return found


def answer(line: str, directory: dict[str, set[str]]) -> str:
    fields = [unquote(f) for f in line.split()]
    if not fields:
        return "BH message=empty%20request"
    user, groups = fields[0].lower(), fields[1:]
    return "OK" if any(user in directory.get(g, set()) for g in groups) else "ERR"


def main() -> None:
    directory = members(sys.argv[1:])
    for line in sys.stdin:
        sys.stdout.write(answer(line, directory) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
