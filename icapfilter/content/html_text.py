"""Streaming HTML-to-text for the "smart" phrase pass.

html5lib's tokenizer is the reference for what counts as text, but it runs at
~9 MB/s and needs the whole document; this is a small state machine driven by
`str.find` and a few regexes that follows the same tokenizer rules for the
cases that matter (tags with quoted attributes, comments, bogus comments,
`<script>`/`<style>` raw text, `<title>`/`<textarea>` RCDATA, character
references) and keeps only a few characters of carry-over between chunks, so
feeding a page in any split gives the same text. Every tag, comment and
dropped script becomes one space, as e2guardian's smart mode turns markup into
white space; `tests/unit/content/test_html_equivalence.py` holds it to
html5lib's output.
"""

from __future__ import annotations

import re
from html import unescape

_DATA, _TAG, _RAW, _RCDATA, _COMMENT, _BOGUS, _PLAINTEXT = range(7)

#: Elements whose content is not page text: dropped.
RAW_TEXT_ELEMENTS = frozenset({"script", "style"})
#: Elements whose content is text but cannot contain tags.
RCDATA_ELEMENTS = frozenset({"title", "textarea"})

_WS = "\t\n\f\r "
_NAME_END = re.compile(r"[\t\n\f\r />]")
_TAG_SCAN = re.compile(r"[^>\"'=]*")
_COMMENT_END = re.compile(r"--!?>")
# html.unescape looks at most 32 name characters after '&'
_ENTITY_STOP = re.compile(r"[\t\n\f <&;]")
_ENTITY_CARRY = 34
_MAX_NAME_CARRY = 4096


def _end_tag_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{name}(?=[\t\n\f\r />])", re.IGNORECASE)


_END_TAG = {n: _end_tag_re(n) for n in RAW_TEXT_ELEMENTS | RCDATA_ELEMENTS}


def _split_entity_tail(text: str) -> int:
    """Index where an unfinished character reference at the end starts."""
    k = text.rfind("&", max(0, len(text) - _ENTITY_CARRY))
    if k == -1 or _ENTITY_STOP.search(text, k + 1):
        return len(text)
    return k


class HtmlTextExtractor:
    """Incremental text extraction; `feed(str) -> str`, then `finish() -> str`."""

    __slots__ = ("_buf", "_state", "_name", "_start", "_quote", "_after_eq", "_fresh")

    def __init__(self) -> None:
        self._buf = ""
        self._state = _DATA
        self._name = ""  # current tag name / raw-text element
        self._start = False  # current tag is a start tag
        self._quote = ""
        self._after_eq = False
        self._fresh = False  # just after "<!--"

    def feed(self, text: str) -> str:
        return self._run(text, final=False)

    def finish(self) -> str:
        return self._run("", final=True)

    def _run(self, text: str, final: bool) -> str:
        buf = self._buf + text if self._buf else text
        self._buf = ""
        n = len(buf)
        pos = 0
        out: list[str] = []
        emit = out.append
        while pos < n:
            state = self._state
            if state == _DATA:
                lt = buf.find("<", pos)
                if lt == -1:
                    seg = buf[pos:]
                    cut = len(seg) if final else _split_entity_tail(seg)
                    if cut:
                        emit(unescape(seg[:cut]))
                    self._buf = seg[cut:]
                    pos = n
                    break
                if lt > pos:
                    emit(unescape(buf[pos:lt]))
                pos = lt
                if lt + 1 >= n:
                    if final:
                        emit("<")
                        pos = n
                    break
                c = buf[lt + 1]
                if c == "!":
                    if buf.startswith("<!--", lt):
                        self._state, self._fresh = _COMMENT, True
                        pos = lt + 4
                        emit(" ")
                    elif not final and n - lt < 4 and "<!--".startswith(buf[lt:]):
                        break
                    else:
                        self._state = _BOGUS
                        pos = lt + 2
                        emit(" ")
                elif c == "?":
                    self._state = _BOGUS
                    pos = lt + 2
                    emit(" ")
                elif c == "/":
                    if lt + 2 >= n:
                        if final:
                            emit("</")
                            pos = n
                        break
                    c2 = buf[lt + 2]
                    if c2.isascii() and c2.isalpha():
                        end = self._open_tag(buf, lt, lt + 2, False, final)
                        if end < 0:
                            pos = n if final else lt
                            break
                        pos = end
                        emit(" ")
                    elif c2 == ">":
                        pos = lt + 3
                    else:
                        self._state = _BOGUS
                        pos = lt + 2
                        emit(" ")
                elif c.isascii() and c.isalpha():
                    end = self._open_tag(buf, lt, lt + 1, True, final)
                    if end < 0:
                        pos = n if final else lt
                        break
                    pos = end
                    emit(" ")
                else:
                    emit("<")
                    pos = lt + 1
            elif state == _TAG:
                if self._quote:
                    q = buf.find(self._quote, pos)
                    if q == -1:
                        pos = n
                        break
                    pos = q + 1
                    self._quote = ""
                    continue
                m = _TAG_SCAN.match(buf, pos)
                if self._after_eq and m.end() > pos and buf[pos : m.end()].strip(_WS):
                    self._after_eq = False
                pos = m.end()
                if pos >= n:
                    break
                c = buf[pos]
                pos += 1
                if c == ">":
                    self._close_tag()
                elif c == "=":
                    self._after_eq = not self._after_eq
                elif self._after_eq:
                    self._quote = c
                    self._after_eq = False
            elif state == _RAW or state == _RCDATA:
                m = _END_TAG[self._name].search(buf, pos)
                if m is not None:
                    if state == _RCDATA:
                        emit(unescape(buf[pos : m.start()]))
                    pos = m.start()
                    self._state = _DATA
                    continue
                if final:
                    if state == _RCDATA:
                        emit(unescape(buf[pos:]))
                    pos = n
                    break
                keep = max(pos, n - len(self._name) - 2)
                if state == _RCDATA:
                    seg = buf[pos:keep]
                    cut = _split_entity_tail(seg)
                    emit(unescape(seg[:cut]))
                    keep = pos + cut
                self._buf = buf[keep:]
                pos = n
                break
            elif state == _COMMENT:
                if self._fresh:
                    if n - pos < 2 and not final:
                        break
                    self._fresh = False
                    if buf.startswith(">", pos):
                        pos += 1
                        self._state = _DATA
                        continue
                    if buf.startswith("->", pos):
                        pos += 2
                        self._state = _DATA
                        continue
                m = _COMMENT_END.search(buf, pos)
                if m is not None:
                    pos = m.end()
                    self._state = _DATA
                    continue
                keep = n if final else max(pos, n - 3)
                self._buf = buf[keep:]
                pos = n
                break
            elif state == _BOGUS:
                gt = buf.find(">", pos)
                if gt == -1:
                    pos = n
                    break
                pos = gt + 1
                self._state = _DATA
            else:  # _PLAINTEXT: the rest of the document is literal text
                emit(buf[pos:])
                pos = n
        if pos < n and not self._buf:
            self._buf = buf[pos:]
        return "".join(out)

    def _open_tag(self, buf: str, lt: int, name_start: int, start: bool, final: bool) -> int:
        """Enter the TAG state once the whole tag name is in `buf`.

        Returns the position after the name, or -1 to wait for more input.
        """
        m = _NAME_END.search(buf, name_start)
        if m is None:
            if final or len(buf) - lt <= _MAX_NAME_CARRY:
                return -1  # at EOF html5lib drops an unfinished tag too
            end = len(buf)
        else:
            end = m.start()
        self._name = buf[name_start:end].lower()
        self._start = start
        self._state = _TAG
        self._quote = ""
        self._after_eq = False
        return end

    def _close_tag(self) -> None:
        self._after_eq = False
        self._state = _DATA
        if not self._start:
            return
        name = self._name
        if name in RAW_TEXT_ELEMENTS:
            self._state = _RAW
        elif name in RCDATA_ELEMENTS:
            self._state = _RCDATA
        elif name == "plaintext":
            self._state = _PLAINTEXT
