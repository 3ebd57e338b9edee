"""e2guardian 5.3.5 in ICAP mode as a judge of pages (the phrase verdict oracle).

The stock lists were written and tuned under e2guardian, so its verdict on a
page is the reference our phrase engine is checked against. This module runs
Debian's `/usr/sbin/e2guardian` on free loopback ports with a private copy of
`/etc/e2guardian` (phrase filtering only, limit 50, the stock weighted lists
plus gambling and illegal drugs) and sends it one REQMOD and one RESPMOD per
page, as Squid would.

Use `E2GuardianOracle` as a context manager, `oracle_for_tests()` as the body
of a session fixture (skips only when e2guardian is not installed), or the
command line: `python -m tests.e2guardian_oracle PAGE [--content-type T]`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

E2G_BINARY = Path("/usr/sbin/e2guardian")
E2G_ETC = Path("/etc/e2guardian")
E2G_LANGUAGES = Path("/usr/share/e2guardian/languages")
E2G_USER = "e2guardian"  # compiled-in proxyuser: it drops to this user when started as root
LIMIT = 50
# The reference set: the stock weighted lists plus these two, as
# uncommented `.Include` lines of lists/weightedphraselist.
EXTRA_WEIGHTED = ("gambling/weighted", "illegaldrugs/weighted")
MAX_PAGE = 60 * 1024  # Squid 5.7 stalls bigger RESPMOD bodies with e2guardian
IO_TIMEOUT = 10.0
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

BLOCK_MARK = b"E2G-ORACLE-BLOCK"
_TEMPLATE = (
    "<html><head><title>blocked</title></head><body>\n"
    "E2G-ORACLE-BLOCK\n"
    "<reason>-REASONLOGGED-</reason>\n"
    "<categories>-CATEGORIES-</categories>\n"
    "</body></html>\n"
)
_REASON_RE = re.compile(rb"<reason>(.*?)</reason>", re.S)
_CATEGORIES_RE = re.compile(rb"<categories>(.*?)</categories>", re.S)
_NAUGHTINESS_RE = re.compile(r"limit of (-?\d+)\s*:\s*(-?\d+)")


class OracleUnavailable(RuntimeError):
    """e2guardian is not installed here (the only reason to skip)."""


class OracleError(RuntimeError):
    """e2guardian misbehaved: did not start, answered garbage, timed out."""


@dataclass(frozen=True)
class OracleVerdict:
    """e2guardian's decision on one page.

    `naughtiness` is set only for a weighted block, where e2guardian's reason
    names the score ("Content Check limit of 50 : 165 ..."); banned phrases and
    allowed pages give None, because e2guardian does not report them.
    """

    blocked: bool
    naughtiness: int | None
    reason: str
    categories: str = ""

    @property
    def verdict(self) -> str:
        return "block" if self.blocked else "allow"

    def __str__(self) -> str:
        score = "" if self.naughtiness is None else f" naughtiness={self.naughtiness}"
        cats = f" categories={self.categories!r}" if self.categories else ""
        return f"{self.verdict}{score} reason={self.reason!r}{cats}"


def installed() -> bool:
    return E2G_BINARY.is_file() and os.access(E2G_BINARY, os.X_OK) and E2G_ETC.is_dir()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# --- configuration -------------------------------------------------------------------

def _set_option(text: str, key: str, value: str | None) -> str:
    """Replace (or drop, value None) every active `key = ...` line; append if absent."""
    pat = re.compile(rf"^[ \t]*#?[ \t]*{re.escape(key)}[ \t]*=.*$", re.M)
    active = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=.*$", re.M)
    if value is None:
        return active.sub("", text)
    line = f"{key} = {value}"
    if active.search(text):
        text = active.sub(line, text, count=1)
        # a second active line would override ours
        first = text.index(line) + len(line)
        return text[:first] + active.sub("", text[first:])
    if pat.search(text):
        return pat.sub(line, text, count=1)
    return text + f"\n{line}\n"


def _emptied_lists(f1_text: str) -> list[str]:
    """Paths of the site, URL, IP, search and regexp lists the group uses.

    Emptied so only the phrase lists decide; the phrase list files and the
    story files stay as shipped.
    """
    paths = re.findall(r"^[^#\n]*path=([^,'\s]+)", f1_text, re.M)
    for key in ("contentregexplist",):
        m = re.search(rf"^\s*{key}\s*=\s*'([^']+)'", f1_text, re.M)
        if m:
            paths.append(m.group(1))
    return paths


def build_config(root: Path, icap_port: int, proxy_port: int, *, limit: int = LIMIT,
                 extra_weighted: tuple[str, ...] = EXTRA_WEIGHTED,
                 lists: dict[str, str] | None = None) -> Path:
    """Write a private e2guardian configuration under `root`; returns e2guardian.conf.
    ``lists`` gives emptied lists content (``{"bannedextensionlist": ".exe\\n"}``)."""
    etc = root / "etc"
    shutil.copytree(E2G_ETC, etc, symlinks=False)
    old, new = str(E2G_ETC).encode(), str(etc).encode()
    for f in etc.rglob("*"):
        if f.is_file() and not f.is_symlink():
            data = f.read_bytes()
            if old in data:
                f.write_bytes(data.replace(old, new))
    languages = root / "languages"
    shutil.copytree(E2G_LANGUAGES, languages)
    (languages / "ukenglish" / "template.html").write_text(_TEMPLATE)
    log = root / "log"
    log.mkdir()

    conf = etc / "e2guardian.conf"
    text = conf.read_text(encoding="latin-1")
    for key, value in (
        ("languagedir", f"'{languages}'"),
        ("language", "'ukenglish'"),
        ("loglevel", "3"),
        ("logfileformat", "6"),
        ("filterip", "127.0.0.1"),
        ("filterports", str(proxy_port)),
        ("transparenthttpsport", None),
        ("icapport", str(icap_port)),
        ("defaulticapfiltergroup", "1"),
        ("pidfilename", f"'{root / 'e2guardian.pid'}'"),
        ("loglocation", f"'{log / 'access.log'}'"),
        ("httpworkers", "64"),
        ("nodaemon", "on"),
        ("weightedphrasemode", "2"),
        ("phrasefiltermode", "2"),
        ("filecachedir", f"'{root / 'cache'}'"),
    ):
        text = _set_option(text, key, value)
    conf.write_text(text, encoding="latin-1")
    (root / "cache").mkdir()

    f1 = etc / "e2guardianf1.conf"
    f1_text = f1.read_text(encoding="latin-1")
    f1_text = _set_option(f1_text, "naughtynesslimit", str(limit))
    f1.write_text(f1_text, encoding="latin-1")
    for path in _emptied_lists(f1_text):
        p = Path(path)
        if p.is_file() and etc in p.parents:
            p.write_bytes(b"")
    for name, content in (lists or {}).items():
        (etc / "lists" / name).write_text(content)

    weighted = etc / "lists" / "weightedphraselist"
    wtext = weighted.read_bytes()
    for rel in extra_weighted:
        line = f"#.Include<{etc}/lists/phraselists/{rel}>".encode()
        if line not in wtext:
            raise OracleError(f"{weighted}: no commented include for {rel}")
        wtext = wtext.replace(line, line[1:])
    weighted.write_bytes(wtext)

    # e2guardian drops to its own user; it must read the copy and write the logs.
    for d in (root, *[p for p in root.rglob("*") if p.is_dir()]):
        d.chmod(0o755)
    for parent in root.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            raise OracleError(f"{parent} is not searchable by others, so e2guardian "
                              f"(user {E2G_USER}) cannot read {root}: use another folder")
    if os.geteuid() == 0:
        for d in (log, root / "cache"):
            shutil.chown(d, E2G_USER, E2G_USER)
    return conf


# --- ICAP client ---------------------------------------------------------------------

def _recv_until(sock: socket.socket, buf: bytearray, marker: bytes) -> int:
    while True:
        i = buf.find(marker)
        if i >= 0:
            return i
        data = sock.recv(65536)
        if not data:
            raise OracleError(f"connection closed before {marker!r}; got {bytes(buf[:200])!r}")
        buf += data


def _recv_exact(sock: socket.socket, buf: bytearray, n: int) -> None:
    while len(buf) < n:
        data = sock.recv(65536)
        if not data:
            raise OracleError("connection closed in the middle of a message")
        buf += data


def _read_chunked(sock: socket.socket, buf: bytearray) -> bytes:
    """Decode an ICAP chunked body from `buf` (+ socket); consumes it from `buf`."""
    out = bytearray()
    while True:
        i = _recv_until(sock, buf, b"\r\n")
        size_line = bytes(buf[:i]).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError as exc:
            raise OracleError(f"bad chunk size line {bytes(buf[:i])!r}") from exc
        del buf[: i + 2]
        if size == 0:
            _recv_until(sock, buf, b"\r\n")  # no trailers expected
            j = buf.find(b"\r\n")
            del buf[: j + 2]
            return bytes(out)
        _recv_exact(sock, buf, size + 2)
        out += buf[:size]
        del buf[: size + 2]


@dataclass
class IcapAnswer:
    status: int
    headers: dict[str, str]
    http_head: bytes
    body: bytes | None


def _parse_headers(block: bytes) -> tuple[str, dict[str, str]]:
    lines = block.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return lines[0], headers


def icap_exchange(port: int, message: bytes, timeout: float = IO_TIMEOUT,
                  *, read_body: bool = True) -> IcapAnswer:
    """Send one ICAP request on a fresh connection and read the answer.

    `read_body=False` stops after the encapsulated HTTP head: after a banned
    combination block, e2guardian 5.3.5 may answer the next REQMOD with
    `res-body=` in its Encapsulated header and then send no body at all.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(message)
        buf = bytearray()
        end = _recv_until(sock, buf, b"\r\n\r\n")
        status_line, headers = _parse_headers(bytes(buf[:end]))
        del buf[: end + 4]
        parts = status_line.split()
        if len(parts) < 2 or not parts[0].startswith("ICAP/") or not parts[1].isdigit():
            raise OracleError(f"bad ICAP status line {status_line!r}")
        status = int(parts[1])
        enc = headers.get("encapsulated", "")
        offsets = {}
        for item in enc.split(","):
            if "=" in item:
                k, v = item.split("=", 1)
                offsets[k.strip()] = int(v.strip())
        http_head = b""
        body: bytes | None = None
        body_key = next((k for k in ("res-body", "req-body", "null-body") if k in offsets), None)
        if body_key is not None:
            _recv_exact(sock, buf, offsets[body_key])
            http_head = bytes(buf[: offsets[body_key]])
            del buf[: offsets[body_key]]
            if body_key != "null-body" and read_body:
                body = _read_chunked(sock, buf)
        return IcapAnswer(status, headers, http_head, body)


def _chunked(body: bytes, size: int = 8192) -> bytes:
    out = bytearray()
    for i in range(0, len(body), size):
        piece = body[i: i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


# --- the oracle ----------------------------------------------------------------------

class E2GuardianOracle:
    """A private e2guardian instance; `judge()` gives its verdict on a page."""

    def __init__(self, workdir: Path | None = None, *, limit: int = LIMIT,
                 extra_weighted: tuple[str, ...] = EXTRA_WEIGHTED,
                 lists: dict[str, str] | None = None) -> None:
        if not installed():
            raise OracleUnavailable(f"{E2G_BINARY} (Debian package e2guardian) is not installed")
        self._own_dir = workdir is None
        self.root = Path(workdir or tempfile.mkdtemp(prefix="e2g-oracle-"))
        self.limit = limit
        self.extra_weighted = extra_weighted
        self.lists = lists
        self.icap_port = 0
        self.proxy_port = 0
        self.proc: subprocess.Popen | None = None
        self._count = 0

    @property
    def lists_dir(self) -> Path:
        """The copied `lists/` folder e2guardian reads: scan with the very same lists."""
        return self.root / "etc" / "lists"

    @property
    def access_log(self) -> Path:
        return self.root / "log" / "access.log"

    def start(self) -> E2GuardianOracle:
        self.icap_port, self.proxy_port = free_port(), free_port()
        while self.proxy_port == self.icap_port:
            self.proxy_port = free_port()
        conf = build_config(self.root, self.icap_port, self.proxy_port, limit=self.limit,
                            extra_weighted=self.extra_weighted, lists=self.lists)
        out = open(self.root / "e2guardian.out", "wb")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen([str(E2G_BINARY), "-N", "-c", str(conf)], stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise OracleError(f"e2guardian exited with {self.proc.returncode}: "
                                  f"{self._output()}")
            if _port_open(self.icap_port):
                try:
                    self._options()
                    return self
                except (OSError, OracleError):
                    pass
            time.sleep(0.05)
        self.stop()
        raise OracleError(f"e2guardian did not answer on port {self.icap_port} "
                          f"within {START_TIMEOUT}s: {self._output()}")

    def _output(self) -> str:
        try:
            return (self.root / "e2guardian.out").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            # SIGTERM makes e2guardian drain its workers for many seconds; SIGINT ends
            # it at once, and nothing of a test instance needs a graceful end.
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.icap_port and _port_open(self.icap_port) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._own_dir and os.environ.get("E2G_ORACLE_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> E2GuardianOracle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _options(self) -> IcapAnswer:
        msg = (f"OPTIONS icap://127.0.0.1:{self.icap_port}/response ICAP/1.0\r\n"
               f"Host: 127.0.0.1:{self.icap_port}\r\nEncapsulated: null-body=0\r\n\r\n").encode()
        ans = icap_exchange(self.icap_port, msg, timeout=2.0)
        if ans.status != 200:
            raise OracleError(f"OPTIONS answered {ans.status}")
        return ans

    def _url(self) -> str:
        self._count += 1
        return f"http://oracle.example.com/page{self._count}.html"

    def _reqmod(self, url: str) -> tuple[bytes, str]:
        host = url.split("/")[2]
        req = f"GET {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: e2g-oracle\r\n\r\n".encode()
        msg = (f"REQMOD icap://127.0.0.1:{self.icap_port}/request ICAP/1.0\r\n"
               f"Host: 127.0.0.1:{self.icap_port}\r\nAllow: 204\r\n"
               f"X-Client-IP: 127.0.0.1\r\n"
               f"Encapsulated: req-hdr=0, null-body={len(req)}\r\n\r\n").encode() + req
        ans = icap_exchange(self.icap_port, msg, read_body=False)
        if ans.status not in (200, 204):
            raise OracleError(f"REQMOD for {url} answered {ans.status}")
        e2g = ans.headers.get("x-icap-e2g")
        if e2g is None:
            raise OracleError(f"REQMOD for {url} carried no X-ICAP-E2G header: {ans.headers}")
        return req, e2g

    def judge(self, page: bytes, content_type: str = "text/html") -> OracleVerdict:
        """e2guardian's verdict on `page` served with `content_type`."""
        if self.proc is None:
            raise OracleError("the oracle is not running")
        if len(page) > MAX_PAGE:
            raise ValueError(f"page of {len(page)} bytes; keep oracle pages under {MAX_PAGE}")
        url = self._url()
        req, e2g = self._reqmod(url)
        res = (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
               f"Transfer-Encoding: chunked\r\n\r\n").encode()
        msg = (f"RESPMOD icap://127.0.0.1:{self.icap_port}/response ICAP/1.0\r\n"
               f"Host: 127.0.0.1:{self.icap_port}\r\nAllow: 204\r\n"
               f"X-Client-IP: 127.0.0.1\r\nX-ICAP-E2G: {e2g}\r\n"
               f"Encapsulated: req-hdr=0, res-hdr={len(req)}, res-body={len(req) + len(res)}"
               f"\r\n\r\n").encode() + req + res + _chunked(page)
        ans = icap_exchange(self.icap_port, msg)
        if ans.status == 204:
            return OracleVerdict(False, None, "")
        if ans.status != 200:
            raise OracleError(f"RESPMOD for {url} answered {ans.status}")
        body = ans.body or b""
        if BLOCK_MARK not in body:
            return OracleVerdict(False, None, "")
        return parse_block_page(body)

    def flush_log(self) -> str:
        """The access log after one more request (e2guardian writes a block's line late)."""
        self.judge(b"<html><body>flush</body></html>")
        deadline = time.monotonic() + 2.0
        text = ""
        while time.monotonic() < deadline:
            try:
                text = self.access_log.read_text(encoding="latin-1")
            except OSError:
                text = ""
            if text:
                break
            time.sleep(0.05)
        return text


def parse_block_page(body: bytes) -> OracleVerdict:
    """Verdict from our template page: the logged reason and categories it carries."""
    m = _REASON_RE.search(body)
    reason = m.group(1).decode("latin-1").strip() if m else ""
    c = _CATEGORIES_RE.search(body)
    categories = c.group(1).decode("latin-1").strip() if c else ""
    n = _NAUGHTINESS_RE.search(reason)
    return OracleVerdict(True, int(n.group(2)) if n else None, reason, categories)


# --- pytest fixture ------------------------------------------------------------------

def oracle_for_tests() -> Iterator[E2GuardianOracle]:
    """Body of a pytest fixture: one running oracle; skips only when not installed.

    A test module declares its own fixture around it (the name then stays a
    plain parameter name, with no import shadowed)::

        @pytest.fixture(scope="session")
        def e2guardian_oracle():
            yield from oracle_for_tests()

    The oracle's folder is a fresh temp folder, not pytest's tmp_path:
    pytest's is private to root (0700) and e2guardian runs as its own user.
    """
    import pytest

    if not installed():
        pytest.skip(f"{E2G_BINARY} is not installed (apt-get install e2guardian)")
    oracle = E2GuardianOracle()
    oracle.start()
    try:
        yield oracle
    finally:
        oracle.stop()


# --- command line --------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.e2guardian_oracle",
        description="Print e2guardian 5.3.5's verdict on saved pages (ICAP mode, limit 50, "
                    "stock lists plus gambling and illegal drugs).")
    ap.add_argument("pages", nargs="+", type=Path, help="page files ('-' for stdin)")
    ap.add_argument("--content-type", default="text/html")
    ap.add_argument("--limit", type=int, default=LIMIT)
    ap.add_argument("--json", action="store_true", help="one JSON object per page")
    ap.add_argument("--show-lists-dir", action="store_true",
                    help="print the copied lists folder (kept with E2G_ORACLE_KEEP=1)")
    args = ap.parse_args(argv)
    pages = []
    for p in args.pages:
        try:
            data = sys.stdin.buffer.read() if str(p) == "-" else p.read_bytes()
        except OSError as exc:
            print(f"cannot read {p}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        if len(data) > MAX_PAGE:
            print(f"{p}: {len(data)} bytes; the oracle takes pages under {MAX_PAGE}",
                  file=sys.stderr)
            return 2
        pages.append((p, data))
    try:
        oracle = E2GuardianOracle(limit=args.limit)
    except OracleUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 2
    import json

    with oracle:
        if args.show_lists_dir:
            print(f"lists: {oracle.lists_dir}")
        for p, data in pages:
            v = oracle.judge(data, args.content_type)
            if args.json:
                print(json.dumps({"page": str(p), "verdict": v.verdict, "blocked": v.blocked,
                                  "naughtiness": v.naughtiness, "reason": v.reason,
                                  "categories": v.categories}, ensure_ascii=False))
            else:
                print(f"{p}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
