"""The HTML block page: a user-replaceable template with escaped fields.

Every field is HTML-escaped here, once, because URLs, user names and phrase
text come from the network (c-icap-modules shipped an injection through the
URL on its DENY page).
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from string import Template

from .verdict import Verdict

FIELDS = ("url", "reason", "category", "group", "client_ip", "user", "phrases", "score", "status")


class BlockPage:
    def __init__(self, template_text: str) -> None:
        self._template = Template(template_text)
        # Fail at start-up, not on the first block, when a placeholder is unknown.
        try:
            self._template.substitute({name: "" for name in FIELDS})
        except KeyError as exc:
            raise ValueError(f"block page template: unknown placeholder ${exc.args[0]} "
                             f"(known: {', '.join('$' + f for f in FIELDS)})") from None
        except ValueError as exc:
            raise ValueError(f"block page template: {exc} (write $$ for a dollar sign)") from None

    @classmethod
    def default(cls) -> BlockPage:
        text = resources.files("icapfilter").joinpath("templates/blockpage.html").read_text("utf-8")
        return cls(text)

    @classmethod
    def from_file(cls, path: Path) -> BlockPage:
        return cls(path.read_text("utf-8"))

    def render(self, verdict: Verdict, url: str, client_ip: str | None, user: str | None) -> bytes:
        values = {
            "url": url,
            "reason": verdict.reason,
            "category": verdict.category or "-",
            "group": verdict.group,
            "client_ip": client_ip or "-",
            "user": user or "-",
            "phrases": ", ".join(verdict.phrases) or "-",
            "score": "-" if verdict.score is None else str(verdict.score),
            "status": str(verdict.status),
        }
        escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
        return self._template.substitute(escaped).encode("utf-8")
