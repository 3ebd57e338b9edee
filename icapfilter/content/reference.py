"""html5lib-based text extraction: the slow, spec-exact yardstick.

Not used on the hot path (about 9 MB/s); tests and the benchmark compare the
streaming extractor in `html_text` against it.
"""

from __future__ import annotations

from .html_text import RAW_TEXT_ELEMENTS, RCDATA_ELEMENTS


def html5lib_text(html: str) -> str:
    """Text of `html` as html5lib's tokenizer sees it, markup as spaces.

    The tokenizer alone does not switch into raw-text states (the tree
    builder normally does), so this does it for the same elements the fast
    path treats specially.
    """
    from html5lib._tokenizer import HTMLTokenizer
    from html5lib.constants import tokenTypes

    chars = (tokenTypes["Characters"], tokenTypes["SpaceCharacters"])
    markup = (
        tokenTypes["EndTag"],
        tokenTypes["Comment"],
        tokenTypes["Doctype"],
        tokenTypes["EmptyTag"],
    )
    start_tag = tokenTypes["StartTag"]
    tok = HTMLTokenizer(html)
    out: list[str] = []
    skip = False
    for token in tok:
        kind = token["type"]
        if kind in chars:
            if not skip:
                out.append(token["data"])
        elif kind == start_tag:
            out.append(" ")
            name = token["name"].lower()
            if name == "script":
                tok.state = tok.scriptDataState
                skip = True
            elif name in RAW_TEXT_ELEMENTS:
                tok.state = tok.rawtextState
                skip = True
            elif name in RCDATA_ELEMENTS:
                tok.state = tok.rcdataState
            elif name == "plaintext":
                tok.state = tok.plaintextState
        elif kind in markup:
            out.append(" ")
            skip = False
    return "".join(out)


def fold_ws(text: str) -> str:
    return " ".join(text.split())
