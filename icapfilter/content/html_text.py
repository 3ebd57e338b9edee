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

from .entities import References
from .entities import split_reference_tail as _split_entity_tail

_DATA, _RAW, _RCDATA, _COMMENT, _BOGUS, _PLAINTEXT = range(6)

#: Elements whose content is not page text: dropped.
RAW_TEXT_ELEMENTS = frozenset({"script", "style"})
#: Elements whose content is text but cannot contain tags.
RCDATA_ELEMENTS = frozenset({"title", "textarea"})

_WS = "\t\n\f\r "
# A whole start or end tag, following html5lib's tokenizer: a quote only opens
# a quoted value right after `=` (and optional white space); an unquoted value
# runs to white space or `>`, quotes and `=` included. Possessive/atomic, so a
# tag that is not complete in the buffer fails instead of matching less.
_TAG = re.compile(
    r"""<(/?)([A-Za-z][^\t\n\f\r />]*+)"""
    r"""(?:[^>"'=]++|(?>=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|(?!["'])[^>\t\n\f\r ]*+))|["'])*+>"""
)
# The fast lane: "simple" tags (no stray quote, no '<' or '>' in a value) end
# exactly where _TAG ends, and matching them cannot run past the next '<', so a
# run of text and simple tags is handled by one substitution. Anything else
# (comments, <!, <?, special elements, odd tags, a tag cut by the chunk end)
# stops the lane and goes through the state machine below.
_SIMPLE_BODY = (
    r"""/?[A-Za-z][^\t\n\f\r />"'<=]*+"""
    r"""(?:[\t\n\f\r /]+(?:[^\t\n\f\r />"'<=]+"""
    r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"<>]*+"|'[^'<>]*+'|[^\t\n\f\r >"'<=`]++))?)?)*+"""
    r"""[\t\n\f\r /]*+>"""
)
_SIMPLE_TAG = re.compile("<" + _SIMPLE_BODY)
_LANE_STOP = re.compile(
    r"<(?:[!?]|\Z|/(?![A-Za-z])"
    r"|(?i:script|style|title|textarea|plaintext)(?=[\t\n\f\r />])"
    r"|(?=/?[A-Za-z])(?!" + _SIMPLE_BODY + "))"
)
# What always ends a lane, whatever the tags around it: cheap to search for,
# because it needs no look at the tag grammar. The lane found with it is
# valid when every '<' in it is the start of a simple tag, which one
# substitution both checks and does (a '<' left over means: no, take the
# careful path through _LANE_STOP).
_SPECIAL = re.compile(
    r"<(?:[!?]|/(?![A-Za-z])|(?i:script|style|title|textarea|plaintext)(?=[\t\n\f\r />]))"
)
_COMMENT_END = re.compile(r"--!?>")
_MAX_TAG_CARRY = 256 * 1024


def _end_tag_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{name}(?=[\t\n\f\r />])", re.IGNORECASE)


_END_TAG = {n: _end_tag_re(n) for n in RAW_TEXT_ELEMENTS | RCDATA_ELEMENTS}


def _lane(buf: str, pos: int, final: bool, careful: bool) -> tuple[str | None, int, bool]:
    """Text and simple tags from `pos` on, with the tags already turned to spaces.

    Returns (lane, end, stopped at markup that needs the state machine). With
    `careful` False it tries the cheap lane, up to the next markup that always
    needs the state machine; that fails (lane None, end = where the cheap lane
    would have ended) when a tag in it is not simple. The careful lane ends at
    the first tag that is not simple; lane None there means no lane of two
    characters or more starts at `pos`.
    """
    n = len(buf)
    if not careful:
        stop = _SPECIAL.search(buf, pos)
        end = stop.start() if stop is not None else n
        cut = False
        if stop is None and not final:
            # a tag or character reference cut by the chunk end waits for more
            lt = buf.rfind("<", pos, end)
            if lt != -1 and buf.find(">", lt, end) == -1:
                end, cut = lt, True
            else:
                end = pos + _split_entity_tail(buf[pos:end])
        if end - pos <= 1:
            return None, end, True
        lane = buf[pos:end]
        if "<" in lane:
            lane = _SIMPLE_TAG.sub(" ", lane)
            if "<" in lane:
                return None, end, True
        return lane, end, stop is not None or cut
    stop = _LANE_STOP.search(buf, pos)
    end = stop.start() if stop is not None else n
    if stop is None and not final:
        end = pos + _split_entity_tail(buf[pos:end])
    if end - pos <= 1:
        return None, pos, True
    lane = buf[pos:end]
    return (_SIMPLE_TAG.sub(" ", lane) if "<" in lane else lane), end, stop is not None


class HtmlTextExtractor:
    """Incremental text extraction; `feed(str) -> str`, then `finish() -> str`."""

    __slots__ = ("_buf", "_state", "_name", "_fresh", "_retry_at", "_refs")

    def __init__(self) -> None:
        self._buf = ""
        self._state = _DATA
        self._name = ""  # the raw-text / RCDATA element we are in
        self._fresh = False  # just after "<!--"
        # An unfinished tag is only re-matched once the carry has doubled, so
        # a long tag fed a byte at a time costs linear, not quadratic, time.
        self._retry_at = 0
        self._refs = References()

    def feed(self, text: str) -> str:
        return self._run(text, final=False)

    def finish(self) -> str:
        return self._run("", final=True)

    def _run(self, text: str, final: bool) -> str:
        buf = self._buf + text if self._buf else text
        if not final and len(buf) < self._retry_at:
            self._buf = buf
            return ""
        self._retry_at = 0
        self._buf = ""
        n = len(buf)
        pos = 0
        out: list[str] = []
        emit = out.append
        unescape = self._refs.unescape
        careful_until = 0
        while pos < n:
            state = self._state
            if state == _DATA:
                lane, end, stop_found = _lane(buf, pos, final, pos < careful_until)
                if lane is None and pos >= careful_until:
                    # the fast lane failed here; stay careful up to its end so
                    # that hostile markup costs linear, not quadratic, time
                    careful_until = end
                    lane, end, stop_found = _lane(buf, pos, final, True)
                if lane is not None:
                    emit(unescape(lane))
                    pos = end
                    if not stop_found:
                        if not final:
                            self._buf = buf[end:]
                            pos = n
                        continue
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
                        pos = self._tag(buf, lt, final)
                        if pos < 0:
                            pos = n if final else lt
                            break
                        emit(" ")
                    elif c2 == ">":
                        pos = lt + 3
                    else:
                        self._state = _BOGUS
                        pos = lt + 2
                        emit(" ")
                elif c.isascii() and c.isalpha():
                    pos = self._tag(buf, lt, final)
                    if pos < 0:
                        pos = n if final else lt
                        break
                    emit(" ")
                else:
                    emit("<")
                    pos = lt + 1
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

    def _tag(self, buf: str, lt: int, final: bool) -> int:
        """Consume the tag at `lt`; position after it, or -1 to wait for input.

        A tag still open at the end of the input is dropped, as html5lib does.
        One longer than _MAX_TAG_CARRY (a huge inline data: URI with a stray
        quote...) is skipped up to the next `>` instead of being buffered.
        """
        m = _TAG.match(buf, lt)
        if m is None:
            if final or len(buf) - lt <= _MAX_TAG_CARRY:
                self._retry_at = 2 * (len(buf) - lt) + 64
                return -1
            self._state = _BOGUS
            return lt + 1
        if not m.group(1):
            name = m.group(2)
            if len(name) <= 8:
                self._open_special(name.lower())
        return m.end()

    def _open_special(self, name: str) -> None:
        if name in RAW_TEXT_ELEMENTS:
            self._name = name
            self._state = _RAW
        elif name in RCDATA_ELEMENTS:
            self._name = name
            self._state = _RCDATA
        elif name == "plaintext":
            self._state = _PLAINTEXT
