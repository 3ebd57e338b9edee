"""The block page: every field escaped, the browser's language, what pupils and
staff see, the unblock-request link, and templates checked at load."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from icapfilter.app import BuildError, build
from icapfilter.blockpage import BlockPage
from icapfilter.config import ConfigError, parse_config
from icapfilter.verdict import Verdict

PHRASE_BLOCK = Verdict.block("weighted phrase limit exceeded", "Pornography", group="pupils",
                             score=180, limit=50, phrases=("sexy (weighted +60 x3)",))
URL_BLOCK = Verdict.block("listed in games", "games", group="pupils", entry="games.test")


def render(page: BlockPage, verdict: Verdict = PHRASE_BLOCK, url: str = "http://x.test/a?b=1",
           language: str | None = None) -> str:
    return page.render(verdict, url, "10.0.0.1", "alice", language).decode()


def test_block_page_escapes_every_field():
    page = BlockPage.configured(detail="full").render(
        Verdict.block("<b>reason</b>", "<i>cat</i>", phrases=("<script>p</script>",)),
        'http://x/"><script>alert(1)</script>', "10.0.0.1", "<img src=x onerror=alert(1)>",
    ).decode()
    for raw in ("<script>", "<img", "<b>", "<i>"):
        assert raw not in page
    assert "&lt;script&gt;" in page and "&quot;&gt;" in page


def test_block_page_template_with_unknown_placeholder_fails_at_load():
    with pytest.raises(ValueError, match=r"unknown placeholder \$nosuch"):
        BlockPage("<p>$nosuch</p>")


@pytest.mark.parametrize("header, words", [
    ("fr-FR,fr;q=0.9,en;q=0.8", ("lang=\"fr\"", "L’accès à cette page a été refusé",
                                 "Cette page contient des mots")),
    ("de", ("lang=\"de\"", "Der Zugriff auf diese Seite wurde verweigert",
            "Diese Seite enthält Wörter")),
    ("es-ES", ("lang=\"es\"", "Se ha denegado el acceso a esta página", "Esta página contiene")),
    ("en-GB", ("lang=\"en\"", "Access to this page has been denied", "This page contains")),
    ("ja, ko;q=0.5", ("lang=\"en\"", "Access to this page has been denied")),
])
def test_the_page_speaks_the_browsers_language(header, words):
    page = render(BlockPage.default(), language=header)
    for word in words:
        assert word in page


def test_the_explanation_follows_why_the_page_was_blocked():
    page = render(BlockPage.default(), URL_BLOCK, language="fr")
    assert "Cette adresse appartient à une catégorie bloquée" in page


def test_pupils_see_the_reason_and_category_but_no_phrase_score_or_limit():
    page = render(BlockPage.default())
    assert "weighted phrase limit exceeded" in page and "Pornography" in page
    assert "sexy" not in page and "180" not in page and "Phrases found" not in page


def test_staff_see_phrases_score_and_limit():
    page = render(BlockPage.configured(detail="full"), language="de")
    assert "sexy (weighted +60 x3)" in page and "180 (Grenzwert 50)" in page


def test_full_groups_see_the_full_page_and_everyone_else_the_reason():
    page = BlockPage.configured(full_groups=["staff"])
    staff = render(page, replace(PHRASE_BLOCK, group="staff"))
    assert "sexy (weighted +60 x3)" in staff and "180 (limit 50)" in staff
    assert "sexy" not in render(page) and "Phrases found" not in render(page)


def test_a_custom_template_cannot_show_pupils_the_phrases():
    page = render(BlockPage("<p>$reason $phrases $score $limit</p>"))
    assert page == "<p>weighted phrase limit exceeded   </p>"


def test_the_contact_link_carries_the_blocked_request_url_encoded_then_escaped():
    page = BlockPage.configured(
        contact_url="https://help.school.test/unblock?url={url}&cat={category}&why={reason}")
    html_text = render(page, url="http://x.test/a?b=1&c=<2>")
    (href,) = re.findall(r'<a href="([^"]*)"', html_text)
    assert "&amp;cat=" in href and "<" not in href
    query = parse_qs(urlsplit(href.replace("&amp;", "&")).query)
    assert query == {"url": ["http://x.test/a?b=1&c=<2>"], "cat": ["Pornography"],
                     "why": ["weighted phrase limit exceeded"]}
    assert "Ask for this page to be unblocked" in html_text
    assert "<a href" not in render(BlockPage.default())  # no contact_url: no link


@pytest.mark.parametrize("url, why", [
    ("https://help.test/?u={link}", r"unknown placeholder \{link\}"),
    ("https://help.test/?u={url", "contact_url"),
    ("javascript:alert(1)//{url}", "must start with http"),
    ("https://help.test/?u={url:d}", r"write \{url\} alone, without :d"),
    ("https://help.test/?u={reason!x}", r"write \{reason\} alone, without !x"),
    ("https://help.test/?u={url:>99999}", "alone"),
])
def test_a_bad_contact_url_is_a_config_error(url, why):
    with pytest.raises(ConfigError, match=why):
        parse_config(f'[blockpage]\ncontact_url = "{url}"\n')


def test_full_groups_must_name_configured_groups():
    text = '[[groups]]\nname = "staff"\n[[groups]]\nname = "pupils"\n[blockpage]\n'
    assert parse_config(text + 'full_groups = ["staff"]\n').blockpage.full_groups == ["staff"]
    with pytest.raises(ConfigError, match=r"full_groups: no group 'staf' \(did you mean 'staff'"):
        parse_config(text + 'full_groups = ["staf"]\n')


def test_detail_must_be_reason_or_full():
    with pytest.raises(ConfigError, match="detail must be one of reason, full"):
        parse_config('[blockpage]\ndetail = "everything"\n')


def test_a_template_dir_adds_and_replaces_languages(tmp_path):
    (tmp_path / "blockpage.it.html").write_text('<html lang="it"><p>Accesso negato: $url</p>')
    (tmp_path / "blockpage.fr.html").write_text("<p>Refusé par l'école: $url</p>")
    (tmp_path / "notes.txt").write_text("not a page")
    page = BlockPage.configured(template_dir=str(tmp_path))
    assert "Accesso negato" in render(page, language="it")
    assert "Refusé par l'école" in render(page, language="fr")
    assert "Der Zugriff" in render(page, language="de")  # still shipped


def test_a_blockpage_html_in_the_template_dir_replaces_the_english_page(tmp_path):
    (tmp_path / "blockpage.html").write_text("<p>Ours: $url</p>")
    page = BlockPage.configured(template_dir=str(tmp_path))
    assert render(page, language="en") == "<p>Ours: http://x.test/a?b=1</p>"
    (tmp_path / "blockpage.en.html").write_text("<p>Named: $url</p>")
    page = BlockPage.configured(template_dir=str(tmp_path))
    assert render(page, language="en") == "<p>Named: http://x.test/a?b=1</p>"


def test_one_custom_template_keeps_serving_every_language(tmp_path):
    custom = tmp_path / "page.html"
    custom.write_text("<p>Ours: $url ($category)</p>")
    built = build(parse_config(f'[blockpage]\ntemplate = "{custom}"\n'))
    page = render(built.blockpage, language="fr")
    assert page == "<p>Ours: http://x.test/a?b=1 (Pornography)</p>"


def test_a_default_language_without_a_page_fails_at_start(tmp_path):
    with pytest.raises(BuildError, match="default_language 'pt' has no page"):
        build(parse_config('[blockpage]\ndefault_language = "pt"\n'))


def test_the_shipped_pages_are_package_data():
    from importlib import resources

    names = {p.name for p in resources.files("icapfilter").joinpath("templates").iterdir()}
    assert {"blockpage.html", "blockpage.fr.html", "blockpage.de.html",
            "blockpage.es.html"} <= names
