"""The HTML block page: per-language, user-replaceable templates with escaped fields.

Every field is HTML-escaped here, once, because URLs, user names and phrase
text come from the network (c-icap-modules shipped an injection through the
URL on its DENY page). The language follows the browser's
``Accept-Language`` (acceptlanguage.py) among the shipped pages
(``templates/blockpage.<lang>.html``; English is ``blockpage.html``) and those
of ``[blockpage] template_dir``. A template marks optional parts with
comments: ``<!--full-->...<!--/full-->`` is shown only with ``detail =
"full"`` (phrases, score and limit are for staff, not pupils), and
``<!--contact-->...<!--/contact-->`` only when a ``contact_url`` is set. The
phrases, score and limit are also emptied under ``detail = "reason"``, so a
template that shows them outside a ``full`` part cannot leak them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from string import Formatter, Template
from urllib.parse import quote

from .acceptlanguage import choose_language
from .blockpage_text import explanation
from .verdict import Verdict

FIELDS = ("url", "reason", "category", "group", "client_ip", "user", "phrases", "score",
          "status", "limit", "contact_url", "explanation", "language")
DETAILS = ("reason", "full")
#: The placeholders a contact_url may carry, each filled in URL-encoded.
CONTACT_FIELDS = ("url", "category", "reason")
SHIPPED_LANGUAGES = ("en", "fr", "de", "es")
_PAGE_NAME = re.compile(r"blockpage(?:\.([a-z]{2,8}(?:-[a-z0-9]{1,8})*))?\.html")


def _section(name: str) -> re.Pattern[str]:
    return re.compile(rf"<!--\s*{name}\s*-->.*?<!--\s*/{name}\s*-->", re.DOTALL)


def _markers(name: str) -> re.Pattern[str]:
    return re.compile(rf"<!--\s*/?{name}\s*-->")


def check_contact_url(value: str) -> None:
    """A ``contact_url`` may name only the known placeholders."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion
                  in Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise ValueError(f"contact_url: {exc} (write {{{{ and }}}} for braces)") from None
    for name, spec, conversion in fields:
        if name not in CONTACT_FIELDS:
            raise ValueError(f"contact_url: unknown placeholder {{{name}}} (known: "
                             f"{', '.join('{' + f + '}' for f in CONTACT_FIELDS)})")
        if spec or conversion:  # {url:d} or {url!x} would fail at every block page
            extra = f"!{conversion}" if conversion else f":{spec}"
            raise ValueError(f"contact_url: write {{{name}}} alone, without {extra}")
    if not re.match(r"(?i)(https?://|mailto:)", value):
        raise ValueError(f"contact_url: {value!r} must start with http://, https:// or mailto:")


def prepare(template_text: str, *, detail: str = "reason", contact: bool = False) -> Template:
    """One template with the parts this configuration hides cut out; raises
    ValueError at start-up, not at the first block, for an unknown placeholder."""
    text = template_text
    text = _markers("full").sub("", text) if detail == "full" else _section("full").sub("", text)
    text = _markers("contact").sub("", text) if contact else _section("contact").sub("", text)
    template = Template(text)
    try:
        template.substitute({name: "" for name in FIELDS})
    except KeyError as exc:
        raise ValueError(f"block page template: unknown placeholder ${exc.args[0]} "
                         f"(known: {', '.join('$' + f for f in FIELDS)})") from None
    except ValueError as exc:
        raise ValueError(f"block page template: {exc} (write $$ for a dollar sign)") from None
    return template


def shipped_page(language: str) -> str:
    name = "blockpage.html" if language == "en" else f"blockpage.{language}.html"
    return resources.files("icapfilter").joinpath(f"templates/{name}").read_text("utf-8")


def pages_in(folder: Path) -> dict[str, str]:
    """The ``blockpage.<lang>.html`` files of a folder, by lower-case language tag.
    ``blockpage.html`` is English, as the shipped page of that name (a copy of
    it edited in place must not be ignored); ``blockpage.en.html`` wins over it."""
    found, bare = {}, None
    for path in sorted(folder.iterdir()):
        m = _PAGE_NAME.fullmatch(path.name.lower())
        if m and path.is_file():
            if m.group(1) is None:
                bare = path.read_text("utf-8")
            else:
                found[m.group(1)] = path.read_text("utf-8")
    if bare is not None:
        found.setdefault("en", bare)
    return found


class BlockPage:
    """The page of every language, ready to render.

    ``template_text`` alone (``[blockpage] template``, or a test) is the page of
    every language; ``pages`` maps language tags to templates, negotiated with
    the browser, ``template_text`` (when given) being the page when none fits.
    """

    def __init__(self, template_text: str | None = None, *,
                 pages: dict[str, str] | None = None, default_language: str = "en",
                 detail: str = "reason", contact_url: str = "",
                 full_groups: Collection[str] = ()) -> None:
        if detail not in DETAILS:
            raise ValueError(f"detail must be one of {', '.join(DETAILS)}; got {detail!r}")
        if contact_url:
            check_contact_url(contact_url)
        self.detail = detail
        self.contact_url = contact_url
        self.full_groups = frozenset(full_groups) if detail != "full" else frozenset()
        self.default_language = default_language.lower()
        if template_text is None and self.default_language not in (pages or {}):
            raise ValueError(f"default_language {default_language!r} has no page (pages: "
                             f"{', '.join(sorted(pages or {})) or 'none'})")
        self._variants = {level: self._prepared(template_text, pages or {}, level)
                          for level in {detail, *(["full"] if self.full_groups else [])}}
        self.pages, self.fallback = self._variants[detail]

    def _prepared(self, template_text: str | None, pages: dict[str, str],
                  detail: str) -> tuple[dict[str, Template], Template]:
        contact = bool(self.contact_url)
        prepared = {lang.lower(): prepare(text, detail=detail, contact=contact)
                    for lang, text in pages.items()}
        if template_text is not None:
            return prepared, prepare(template_text, detail=detail, contact=contact)
        return prepared, prepared[self.default_language]

    @classmethod
    def default(cls) -> BlockPage:
        return cls.configured()

    @classmethod
    def configured(cls, template: str = "", template_dir: str = "", *,
                   default_language: str = "en", detail: str = "reason",
                   contact_url: str = "", full_groups: Collection[str] = ()) -> BlockPage:
        """The pages a ``[blockpage]`` section names: the shipped languages
        (unless one ``template`` replaces them all), those of ``template_dir``
        over them."""
        pages = {} if template else {lang: shipped_page(lang) for lang in SHIPPED_LANGUAGES}
        if template_dir:
            pages.update(pages_in(Path(template_dir)))
        fallback = Path(template).read_text("utf-8") if template else None
        return cls(fallback, pages=pages, default_language=default_language, detail=detail,
                   contact_url=contact_url, full_groups=full_groups)

    def language_for(self, accept_language: str | None) -> str:
        if not self.pages:
            return self.default_language
        return choose_language(accept_language, self.pages, self.default_language)

    def render(self, verdict: Verdict, url: str, client_ip: str | None, user: str | None,
               accept_language: str | None = None) -> bytes:
        language = self.language_for(accept_language)
        full = self.detail == "full" or verdict.group in self.full_groups
        pages, fallback = self._variants["full" if full else "reason"]
        template = pages.get(language, fallback)
        category = verdict.category or "-"
        values = {
            "url": url,
            "reason": verdict.reason,
            "category": category,
            "group": verdict.group,
            "client_ip": client_ip or "-",
            "user": user or "-",
            "phrases": (", ".join(verdict.phrases) or "-") if full else "",
            "score": ("-" if verdict.score is None else str(verdict.score)) if full else "",
            "limit": ("-" if verdict.limit is None else str(verdict.limit)) if full else "",
            "status": str(verdict.status),
            "contact_url": self._contact_link(url, category, verdict.reason),
            "explanation": explanation(verdict, language),
            "language": language,
        }
        escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
        return template.substitute(escaped).encode("utf-8")

    def _contact_link(self, url: str, category: str, reason: str) -> str:
        """The contact URL with the blocked request filled in, URL-encoded (the
        whole link is then HTML-escaped like every value)."""
        if not self.contact_url:
            return ""
        encoded = {"url": quote(url, safe=""), "category": quote(category, safe=""),
                   "reason": quote(reason, safe="")}
        return self.contact_url.format_map(encoded)
