"""Plain words for a URL ``check`` cannot parse: which character, where, what to do.

The list engine's reason ("control character or whitespace in entry") is
written for list files; someone pasting a URL into ``check`` needs to know
which character it found and that Squid would send it percent-encoded.
"""

from __future__ import annotations

import unicodedata

UNPARSEABLE = "unparseable-url"


def _name(char: str) -> str:
    if char == " ":
        return "a space"
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "")
    if name:
        return f"a {name.lower()} ({code})"
    return f"a control character ({code})"


def bad_character(url: str) -> str | None:
    """What is wrong with a URL holding a control character or whitespace, else None."""
    for position, char in enumerate(url, start=1):
        if char.isspace() or unicodedata.category(char) == "Cc":
            encoded = "".join(f"%{b:02X}" for b in char.encode("utf-8"))
            return (f"the URL contains {_name(char)} at character {position}; a URL holds "
                    f"none: percent-encode it ({encoded}) as a browser would")
    return None


def explain(result: dict[str, object], url: str) -> None:
    """Replace the list engine's wording in a ``check`` result, in place."""
    if result.get("category") != UNPARSEABLE:
        return
    plain = bad_character(url)
    if plain:
        result["reason"] = f"unparseable URL: {plain}"
