"""Host parsing as browsers do it: the WHATWG IPv4 spellings, IPv4-mapped IPv6,
percent-decoded hosts and UTS #46 non-transitional (IDNA 2008) names."""

from __future__ import annotations

import ipaddress
import socket

import idna
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from icapfilter.urls.errors import InvalidEntry
from icapfilter.urls.hosts import canonical_host, parse_ipv4

# -- IPv4 -----------------------------------------------------------------------


@pytest.mark.parametrize("spelling", [
    "203.0.113.7",
    "3405803783",               # one part: the whole address
    "0xcb007107", "0XCB007107",
    "031300070407",             # octal, one part
    "0313.0.0161.07",           # octal parts
    "0xcb.0x0.0x71.0x7",        # hex parts
    "0xcb.0.113.07",            # mixed
    "203.0.28935",              # three parts: the last covers 16 bits
    "203.28935",                # two parts: the last covers 24 bits
    "0xcb.0x7107",              # two parts, hex
    "203.0.113.7.",             # the trailing dot of a fully qualified name
])
def test_ipv4_spellings_reach_the_same_address(spelling: str) -> None:
    assert canonical_host(spelling) == ("203.0.113.7", True)


def test_leading_zero_means_octal() -> None:
    assert canonical_host("0203.0.113.7")[0] == "131.0.113.7"
    assert canonical_host("0x.0.0.0x")[0] == "0.0.0.0"  # "0x" alone is 0


@pytest.mark.parametrize(("spelling", "reason"), [
    ("1.203.0.113.7", "more than 4 parts"),
    ("256.0.0.1", "over 255"),
    ("1.2.3.256", "out of range"),
    ("1.2.65536", "out of range"),
    ("4294967296", "out of range"),
    ("08.0.0.1", "bad number"),       # 8 is no octal digit
    ("0xg.1.2.3", "bad number"),
    ("1..2.3", "bad number"),
    ("example.09", "bad number"),     # ends in a number: an IPv4 attempt
    ("example.0x", "bad number"),
])
def test_hosts_ending_in_a_number_that_are_no_ipv4_fail(spelling: str, reason: str) -> None:
    with pytest.raises(InvalidEntry, match=reason):
        canonical_host(spelling)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.example", "0x1.example", "a.b2",
                                  "example.0xg"])
def test_hosts_not_ending_in_a_number_are_names(host: str) -> None:
    assert canonical_host(host) == (host, False)


@pytest.mark.parametrize("literal", ["[::ffff:203.0.113.7]", "[::ffff:cb00:7107]",
                                     "[::FFFF:CB00:7107]", "[0:0:0:0:0:ffff:203.0.113.7]"])
def test_ipv4_mapped_ipv6_is_the_ipv4_address(literal: str) -> None:
    assert canonical_host(literal) == ("203.0.113.7", True)


def test_other_ipv6_stays_ipv6() -> None:
    assert canonical_host("[2001:DB8:0::1]") == ("[2001:db8::1]", True)
    assert canonical_host("[::203.0.113.7]") == ("[::cb00:7107]", True)
    with pytest.raises(InvalidEntry, match="zone"):
        canonical_host("[fe80::1%eth0]")


def _render(number: int, style: str, width: int) -> str:
    if style == "dec":
        return str(number)
    if style == "oct":
        return "0" + format(number, "o")
    if style == "hex":
        return "0x" + format(number, "x")
    return "0X" + format(number, "X").rjust(width, "0")


@st.composite
def ipv4_spellings(draw) -> tuple[int, str]:
    """An address and one of its spellings: 1-4 parts, each decimal, octal or
    hex, per the WHATWG IPv4 parser (the last part holds the remaining bytes)."""
    address = draw(st.integers(0, 2**32 - 1))
    parts = draw(st.integers(1, 4))
    numbers = [(address >> (8 * (3 - i))) & 0xFF for i in range(parts - 1)]
    numbers.append(address & ((1 << (8 * (5 - parts))) - 1))
    styles = draw(st.lists(st.sampled_from(["dec", "oct", "hex", "HEX"]),
                           min_size=parts, max_size=parts))
    widths = draw(st.lists(st.integers(0, 10), min_size=parts, max_size=parts))
    return address, ".".join(_render(n, s, w) for n, s, w in zip(numbers, styles, widths,
                                                                   strict=True))


@given(ipv4_spellings(), st.booleans())
@example((0xCB007107, "3405803783"), False)
@settings(max_examples=500)
def test_every_whatwg_ipv4_spelling_is_canonical(case: tuple[int, str], trailing_dot: bool) -> None:
    address, spelling = case
    expected = str(ipaddress.IPv4Address(address))
    assert canonical_host(spelling + ("." if trailing_dot else "")) == (expected, True)
    # the C library's inet_aton (what curl and most resolvers use) agrees
    assert socket.inet_ntoa(socket.inet_aton(spelling)) == expected
    assert parse_ipv4(expected) == expected


@given(st.lists(st.integers(0, 255), min_size=5, max_size=8))
def test_more_than_four_numeric_parts_always_fail(numbers: list[int]) -> None:
    with pytest.raises(InvalidEntry):
        canonical_host(".".join(map(str, numbers)))


# -- names -----------------------------------------------------------------------


@pytest.mark.parametrize(("spelling", "host"), [
    ("straße-adult.de", "xn--strae-adult-y6a.de"),       # IDNA 2008: ß stays ß
    ("STRASSE-adult.de", "strasse-adult.de"),            # ... so this is another name
    ("xn--strae-adult-y6a.de", "xn--strae-adult-y6a.de"),
    ("BÜCHER.de", "xn--bcher-kva.de"),
    ("ｅｘａｍｐｌｅ．com", "example.com"),                # fullwidth forms and full stop
    ("example。com", "example.com"),                     # ideographic full stop
    ("%61dultsite.com", "adultsite.com"),                 # percent-decoded first
    ("%C3%BCber.example", "xn--ber-goa.example"),
    ("Example.COM.", "example.com"),
    ("i❤.ws", "xn--i-7iq.ws"),                           # browsers accept emoji names
])
def test_names_are_mapped_as_browsers_map_them(spelling: str, host: str) -> None:
    assert canonical_host(spelling) == (host, False)


@pytest.mark.parametrize(("spelling", "reason"), [
    ("%ff.example", "not UTF-8"),
    ("a%2fb.example", "invalid character"),
    ("a%00b.example", "invalid character"),
    ("a..b", "empty"),
    (".a.b", "empty"),
    ("x" * 64 + ".example", "over-long"),
    ("", "empty"),
])
def test_hosts_browsers_refuse_fail(spelling: str, reason: str) -> None:
    with pytest.raises(InvalidEntry, match=reason):
        canonical_host(spelling)


def test_requests_accept_odd_labels_that_list_entries_refuse() -> None:
    assert canonical_host("-a-.example.com") == ("-a-.example.com", False)
    with pytest.raises(InvalidEntry, match="label"):
        canonical_host("-a-.example.com", strict=True)


label = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?\Z")
names = st.lists(label, min_size=1, max_size=4).map(lambda ls: ".".join([*ls, "example"]))


@given(names, st.data())
def test_percent_encoding_and_case_do_not_change_a_host(host: str, data) -> None:
    spelled = "".join(
        f"%{ord(c):02X}" if data.draw(st.booleans()) else (c.upper() if c.isalpha() else c)
        for c in host)
    assert canonical_host(spelled) == (host, False)


@given(st.text(alphabet="abcüéßæøåς漢字\u200d-", min_size=1, max_size=12))
def test_unicode_and_its_idna2008_a_label_are_one_host(name: str) -> None:
    try:
        a_label = idna.encode(name, uts46=True, transitional=False).decode()
    except idna.IDNAError:
        assume(False)
        return
    assert canonical_host(f"{name}.de") == (f"{a_label}.de", False)


@given(st.text(max_size=40))
@example("[")
@example("%")
@example("0x")
@example("\udcff")
@settings(max_examples=500)
def test_only_invalid_entry_is_raised_and_results_are_fixed_points(text: str) -> None:
    for strict in (False, True):
        try:
            host, is_ip = canonical_host(text, strict=strict)
        except InvalidEntry:
            continue
        again = f"[{host[1:-1]}]" if host.startswith("[") else host
        assert canonical_host(again, strict=strict) == (host, is_ip)
        assert host == host.lower() and host.isascii()


def test_a_zero_padded_dotted_quad_in_a_list_is_decimal_but_octal_in_a_request() -> None:
    # list authors pad for alignment; a browser reads the same host as octal
    assert canonical_host("192.168.001.010", strict=True) == ("192.168.1.10", True)
    assert canonical_host("192.168.001.010") == ("192.168.1.8", True)
    assert canonical_host("0x7f.1", strict=True) == ("127.0.0.1", True)


# -- UTS #46 (what browsers do) where Python's IDNA 2003 codec differs ---------------


@pytest.mark.parametrize(("spelling", "host"), [
    ("straße.de", "xn--strae-oqa.de"),                    # 2003: strasse.de
    ("STRAẞE.de", "xn--strae-oqa.de"),                    # capital sharp s; 2003: strasse.de
    ("ẞ.de", "xn--zca.de"),                               # 2003: ss.de
    ("σοφος.gr", "xn--0xaajbq.gr"),                       # final sigma kept; 2003: σοφοσ
    ("\u0915\u094d\u200d\u0937.example", "xn--11b2ezcw70k.example"),  # ZWJ after a virama
    ("\u0915\u094d\u200c\u0937.example", "xn--11b2ezcs70k.example"),  # ZWNJ after a virama
])
def test_uts46_keeps_what_idna2003_folded_away(spelling: str, host: str) -> None:
    assert canonical_host(spelling) == (host, False)
    assert canonical_host(spelling)[0] == idna.encode(spelling, uts46=True).decode()
    assert spelling.encode("idna").decode().lower() != host  # the codec names another host


@pytest.mark.parametrize(("spelling", "same_as"), [
    ("ΣΟΦΟΣ.gr", "σοφοσ.gr"),   # an uppercase final sigma is an ordinary sigma
    ("ÖBB.at", "öbb.at"),
    ("BÜCHER.de", "bücher.de"),
])
def test_uppercase_non_ascii_maps_to_its_lowercase(spelling: str, same_as: str) -> None:
    assert canonical_host(spelling) == canonical_host(same_as)


@pytest.mark.parametrize("spelling", ["a\u200db.example", "a\u200cb.example",
                                      "\u200dexample.com"])
def test_a_joiner_outside_its_script_context_is_no_host(spelling: str) -> None:
    # UTS #46 CheckJoiners (set by the WHATWG URL parser): browsers refuse
    # these; IDNA 2003 silently made them "ab.example"
    with pytest.raises(InvalidEntry, match="joiner"):
        canonical_host(spelling)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("host", ["example.com\n", "a.b\n", "ex\n"])
def test_a_trailing_newline_is_no_part_of_a_plain_host(host: str, strict: bool) -> None:
    with pytest.raises(InvalidEntry, match="invalid character"):
        canonical_host(host, strict=strict)
