from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from icapfilter.urls.errors import InvalidEntry, InvalidUrl
from icapfilter.urls.normalize import (
    MAX_HOST_SUFFIXES,
    MAX_PATH_PREFIXES,
    candidates,
    entry_text,
    normalize_entry,
    parse_url,
)


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("example.com", "domain", "d:example.com"),
        (".Example.COM.", "domain", "d:example.com"),
        ("*.example.com", "domain", "d:example.com"),
        ("www.example.com", "domain", "d:example.com"),
        ("www3.example.com", "domain", "d:example.com"),
        ("www.com", "domain", "d:www.com"),
        ("http://example.com:8080/", "domain", "d:example.com"),
        ("https://user@example.com", "domain", "d:example.com"),
        ("bücher.de", "domain", "d:xn--bcher-kva.de"),
        ("XN--BCHER-KVA.DE", "domain", "d:xn--bcher-kva.de"),
        ("example.com/path/", "domain", "u:example.com/path"),
        ("example.com", "url", "u:example.com"),
        ("http://www2.foo.com/~badguy/", "url", "u:foo.com/~badguy"),
        ("web.foo.com/x", "url", "u:foo.com/x"),
        ("ftp.foo.com/x", "url", "u:foo.com/x"),
        ("bar.foo.com/x", "url", "u:bar.foo.com/x"),
        ("foo.com/%7ebad", "url", "u:foo.com/~bad"),
        ("foo.com/a%2fb", "url", "u:foo.com/a/b"),
        ("foo.com/ä", "url", "u:foo.com/%C3%A4"),
        ("foo.com/a/./b/../c//d", "url", "u:foo.com/a/c/d"),
        ("foo.com/Search?Q=x&", "url", "u:foo.com/search?q=x"),
        ("10.1.2.3", "domain", "d:10.1.2.3"),
        ("[2001:DB8:0:0::1]", "domain", "d:[2001:db8::1]"),
        ("http://[::0001]:443/x", "url", "u:[::1]/x"),
        ("example.com/a#frag", "url", "u:example.com/a"),
    ],
)
def test_entry_examples(text: str, kind: str, key: str) -> None:
    assert normalize_entry(text, kind) == key  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "exa mple.com",
        "-bad-.com",
        "a..b",
        "x" * 64 + ".com",
        "foo\x00.com",
        "1.2.3.999",
        "[::zz]",
        "example.com:99999",
        "exa$mple.com",
        ("a." * 130) + "com",
    ],
)
def test_entry_garbage_raises_invalid_entry(text: str) -> None:
    with pytest.raises(InvalidEntry):
        normalize_entry(text, "domain")


def test_candidates_order_and_shape() -> None:
    assert candidates("http://WWW.Foo.com:80/~badguy/x?y=1") == [
        "u:foo.com/~badguy/x?y=1",
        "u:foo.com/~badguy/x?y",
        "u:foo.com/~badguy/x",
        "u:foo.com/~badguy",
        "u:foo.com",
        "d:www.foo.com",
        "d:foo.com",
        "d:com",
    ]


def test_connect_target_judged_by_host() -> None:
    assert candidates("example.com:443") == ["u:example.com", "d:example.com", "d:com"]
    assert candidates("[::1]:443") == ["u:[::1]", "d:[::1]"]


def test_candidates_are_capped_for_hostile_urls() -> None:
    url = "http://" + ".".join(["a"] * 100) + ".com/" + "/".join(["p"] * 500)
    keys = candidates(url)
    domains = [k for k in keys if k.startswith("d:")]
    urls = [k for k in keys if k.startswith("u:")]
    assert len(domains) == MAX_HOST_SUFFIXES + 1
    assert domains[-1] == "d:com"
    assert len(urls) <= MAX_PATH_PREFIXES + 2


def test_bad_request_urls() -> None:
    for url in ["http:///x", "", "http://exa mple.com/", "http://[::1/", "http:/listed.example/x",
                "HTTPS:listed.example", "http:\\\\listed.example/"]:
        with pytest.raises(InvalidUrl):
            parse_url(url)


# -- properties ---------------------------------------------------------------

label = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?\Z")
hosts = (
    st.lists(label, min_size=2, max_size=5)
    .map(".".join)
    # a host ending in a number is an IP address (or fails) in browsers
    .filter(lambda h: not re.search(r"(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)$", h))
)
segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    max_size=8,
).filter(lambda s: not set(s) & set("/?#&=% \\"))
paths = st.lists(segment, max_size=4).map(lambda segs: "".join("/" + s for s in segs))


@given(st.text(max_size=60))
@example("\udcff.com")
@example("[")
@example("%")
@settings(max_examples=400)
def test_never_raises_anything_but_invalid_entry(text: str) -> None:
    for kind in ("domain", "url", "auto"):
        try:
            key = normalize_entry(text, kind)  # type: ignore[arg-type]
        except InvalidEntry:
            continue
        assert key[:2] in ("d:", "u:")
    try:
        candidates(text)
    except InvalidUrl:
        pass


@given(hosts, paths)
def test_idempotent(host: str, path: str) -> None:
    for kind in ("domain", "url"):
        key = normalize_entry(host + path, kind)  # type: ignore[arg-type]
        again = normalize_entry(entry_text(key), kind)  # type: ignore[arg-type]
        assert again == key


@given(
    hosts,
    paths,
    st.sampled_from(["", "http://", "HTTPS://", "http://www.", "www."]),
    st.sampled_from(["", ":80", ":443"]),
    st.sampled_from(["", "/"]),
)
def test_spelling_invariance(host: str, path: str, scheme: str, port: str, slash: str) -> None:
    plain = normalize_entry(host + path, "url")
    assert normalize_entry(scheme + host.upper() + port + path + slash, "url") == plain
    # a request's host is kept as sent; its candidates cover the www-less form
    assert set(candidates(host + path)) <= set(candidates(scheme + host + port + path + slash))
    assert (
        parse_url("HTTP://" + host.upper() + port + path + slash).key == parse_url(host + path).key
    )


@given(hosts)
def test_case_insensitive_hosts(host: str) -> None:
    assert normalize_entry(host.upper(), "domain") == normalize_entry(host, "domain")


@given(st.text(alphabet="abcdüéßæøå漢字", min_size=1, max_size=10), st.sampled_from(["de", "com"]))
def test_idn_unicode_equals_punycode(name: str, tld: str) -> None:
    try:
        unicode_key = normalize_entry(f"{name}.{tld}", "domain")
    except InvalidEntry:
        assume(False)
        return
    puny = entry_text(unicode_key)
    assert normalize_entry(puny, "domain") == unicode_key
    # "ß".upper() is "SS", another name under IDNA 2008: only case-map what maps back
    spelled = name.upper() if name.upper().lower() == name else name
    assert f"d:{puny}" in candidates(f"http://{spelled}.{tld}/x") or puny.startswith("www")


@given(hosts, paths)
def test_entry_is_among_its_own_candidates(host: str, path: str) -> None:
    key = normalize_entry(host + path, "auto")
    assert key in candidates("http://" + host + path + "/more?x=1")
