"""The streaming extractor must yield the text html5lib's tokenizer yields."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icapfilter.content.html_text import HtmlTextExtractor
from icapfilter.content.reference import fold_ws, html5lib_text

CORPUS = [
    "<!DOCTYPE html><html><head><title>T &amp; t</title></head>"
    "<body><p>Hello</p></body></html>",
    "<p>Entities: &lt;tag&gt; &quot;q&quot; &#39;s&#39; &#x263A; &#128;"
    " &copy 2024 &notit; &amp</p>",
    "<p>nbsp&nbsp;joined and &unknown; and &#0; and &#xD800; and & alone</p>",
    "before<!-- a comment with <b>tags</b> and -- dashes -->after",
    "a<!---->b<!-->c<!--->d<!-- x --!>e<!--- y --->f",
    "<script>var x = '<p>not text</p>'; if (a < b && c > d) {}</script>visible",
    "<script type='text/javascript'><!--\ndocument.write('x');\n//--></script>shown",
    "<style>p > a { content: '<b>'; }</style><STYLE>x{}</STYLE >text",
    "<SCRIPT>upper</SCRIPT>after <Script src=x></Script>z",
    "<![CDATA[ inside cdata ]]> after cdata",
    "<?xml version='1.0'?><?php echo 1; ?>text",
    '<a href="x>y" title=\'it>s\' data-x=unquoted>link</a> <img alt="<b>">',
    "<a href = \"spaced>value\" >ok</a><a b= 'c>d'>e</a>",
    "broken <b unclosed and < lone lt and 1 < 2 > 1 <3 </ 3 > </>done",
    "<p>unterminated <b>bold <i>italic</p> trailing text",
    "<textarea><b>not a tag</b> &amp; entity</textarea><title>x<y</title>",
    '<div\nclass="multi\nline">multi\nline\ttext</div>',
    "<p>Ünïcödé — “quotes” 日本語 текст</p>",
    "text with </script> stray end tag and <br/> self closing <hr />",
    '<a b="x"c="y">attrs without space</a><a b=x\'y>q</a><a b\'c>d</a>',
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x.dtd">doc',
    "<p>tail entity &amp",
    "<p>ends in tag name <scri",
    "<svg><text>svg text</text></svg><math><mi>x</mi></math>",
    "<table><tr><td>cell1</td><td>cell2</td></tr></table>",
    "<a x=>empty value</a><a x==y>double eq</a>",
    "<a b=x=\"y>z\">unquoted with quote</a><a b==\"c>d\">e</a><a b= >f</a>",
    "<img src=\"data:image/png;base64," + "A" * 70_000 + "\">after big attribute",
]

FRAGMENTS = [
    "<a b=", "=", "x", " ",
    "text", " ", "\n", "word", "&amp;", "&lt;", "&eacute;", "&#65;", "&copy", "<p>", "</p>",
    "<b>", "</b>", "<a href='x>y'>", "</a>", "<!-- c -->", "<!--", "-->", "<script>",
    "</script>", "<style>", "</style>", "<", ">", "</", "<!", "<!DOCTYPE html>", "<br/>",
    "<title>", "</title>", "\"", "'", "=", "<img alt=\"a>b\">", "<div class=q>", "текст", "&",
    ";", "#", "-", "<?pi?>", "<![CDATA[x]]>",
]  # fmt: skip


def fast(html: str, step: int | None = None) -> str:
    e = HtmlTextExtractor()
    if step is None:
        return e.feed(html) + e.finish()
    return "".join(e.feed(html[i : i + step]) for i in range(0, len(html), step)) + e.finish()


@pytest.mark.parametrize("html", CORPUS)
def test_corpus_matches_html5lib(html):
    ref = fold_ws(html5lib_text(html))
    assert fold_ws(fast(html)) == ref
    for step in (1, 2, 3, 7):
        assert fold_ws(fast(html, step)) == ref


def test_seeded_random_documents_match_html5lib():
    rng = random.Random(1234)
    for _ in range(300):
        html = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 40)))
        assert fold_ws(fast(html)) == fold_ws(html5lib_text(html)), html


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40), st.integers(1, 50))
def test_generated_documents_match_html5lib_in_any_chunking(parts, step):
    html = "".join(parts)
    assert fold_ws(fast(html, step)) == fold_ws(html5lib_text(html))
