"""The list image's content key covers every file the parser reads: an include
the parser follows, however its line is written, is part of the key."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icapfilter.urls.image_cache import ContentKey
from icapfilter.urls.listfiles import read_sources
from icapfilter.urls.report import LoadReport

TARGETS = {"a": "a.test", "b": "b.test", "a>b": "ab.test", " b ": "b.test"}
SPACE = st.sampled_from(["", " ", "\t", "\v", "\f", "\r", "  \t"])
LINE = st.one_of(
    st.builds(lambda pre, word, target, post, end: f"{pre}{word}<{target}>{post}{end}",
              SPACE, st.sampled_from([".Include", ".include", ".INCLUDE", "Include", "..Include"]),
              st.sampled_from(sorted(TARGETS)), st.sampled_from(["", " ", "\r", " #x", "x"]),
              st.sampled_from(["\n", "\r\n"])),
    st.sampled_from(["c.test\n", "# .Include<b>\n", "\n"]),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bom=st.booleans(), lines=st.lists(LINE, max_size=6))
def test_every_file_the_parser_includes_is_in_the_content_key(tmp_path_factory, bom, lines):
    root = tmp_path_factory.mktemp("key")
    top = root / "bannedsitelist"
    top.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "".join(lines).encode())
    for name, host in TARGETS.items():
        if name.strip() == name:
            (root / name).write_text(f"{host}\n")
    keys = {entry.key for entry in read_sources([top], LoadReport())}
    for name, host in TARGETS.items():
        if name.strip() != name or f"d:{host}" not in keys:
            continue  # not followed by the parser (or another spelling of one that is)
        before = ContentKey([top]).key
        (root / name).write_text(f"{host}\nmore.test\n")
        assert ContentKey([top]).key != before, (name, lines)
        (root / name).write_text(f"{host}\n")
