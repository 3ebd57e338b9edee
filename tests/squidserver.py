"""A real Squid and a local origin web server, started by the tests on free
loopback ports. Squid's configuration is squid.conf.example with its ports
rewritten, plus the lines a throwaway test instance needs."""

from __future__ import annotations

import gzip
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.polling import WaitTimeout, wait_until

ROOT = Path(__file__).resolve().parent.parent
SQUID = shutil.which("squid") or "/usr/sbin/squid"
HOSTS = ["www.example.test", "clean.example.test", "blocked.example.test",
         "sub.blocked.example.test", "ok.blocked.example.test", "other.test"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page(size: int, seed: str = "clean", word: bytes | None = None, at: float = 0.5) -> bytes:
    """A deterministic HTML page of exactly ``size`` bytes (``word`` placed at ``at``)."""
    unit = (f"<p>{seed} paragraph of ordinary text about gardens and trains.</p>\n").encode()
    body = (b"<html><body>\n" + unit * (size // len(unit) + 2))[:size]
    if word and size > len(word):
        pos = min(int(size * at), size - len(word))
        body = body[:pos] + word + body[pos + len(word):]
    return body


def page_with(body: bytes, word: bytes, at: float) -> bytes:
    pos = min(int(len(body) * at), len(body) - len(word))
    return body[:pos] + word + body[pos + len(word):]


class OriginHandler(BaseHTTPRequestHandler):
    """/page/N, /bad/N (a banned word in the middle), /gzip/N, /image, /json."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("://", 1)[-1]
        path = "/" + path.split("/", 1)[1] if "://" in self.path else self.path
        parts = path.split("?", 1)[0].strip("/").split("/")
        kind = parts[0]
        size = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 1000
        headers = {"Content-Type": "text/html; charset=utf-8", "X-Origin-Test": f"{kind}-{size}"}
        if kind == "bad":
            body = page(size, word=b"badword", at=0.9 if "late" in self.path else 0.5)
        elif kind == "words":
            from urllib.parse import parse_qs, urlsplit

            words = [w for w in parse_qs(urlsplit(path).query).get("w", [""])[0].split(",") if w]
            body = page(size)
            for i, word in enumerate(words):
                at = (i + 1) / (len(words) + 1)
                body = page_with(body, f" {word} ".encode(), at)
        elif kind == "gzip":
            body = gzip.compress(page(size), mtime=0)
            headers["Content-Encoding"] = "gzip"
        elif kind == "image":
            body = b"\x89PNG\r\n\x1a\n" + b"badword" * (size // 7)
            headers["Content-Type"] = "image/png"
        else:
            body = page(size)
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()


@dataclass
class Origin:
    port: int
    server: ThreadingHTTPServer

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_origin() -> Origin:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OriginHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Origin(server.server_address[1], server)


def write_lists(root: Path) -> tuple[Path, Path]:
    """The list tree (adult: blocked.example.test and one URL of
    clean.example.test; gambling: other.test; ok.blocked.example.test an
    exception) and the phrase lists (badword banned; casino, poker, bet
    weighted) of the Squid tests; returns (list tree, phrase folder)."""
    bl = root / "bl"
    for category, domains, urls in [
        ("adult", ["blocked.example.test"], ["clean.example.test/forbidden"]),
        ("gambling", ["other.test"], []),
    ]:
        (bl / category).mkdir(parents=True)
        (bl / category / "domains").write_text("\n".join(domains) + "\n")
        (bl / category / "urls").write_text("\n".join(urls) + "\n")
    (bl / "whitelist").mkdir()
    (bl / "whitelist" / "exceptionsitelist").write_text("ok.blocked.example.test\n")
    phrases = root / "phrases"
    phrases.mkdir()
    (phrases / "bannedphraselist").write_text('#listcategory: "Banned words"\n<badword>\n')
    (phrases / "weightedphraselist").write_text(
        '#listcategory: "Gambling"\n<casino><30>\n<poker><30>\n< bet ><10>\n')
    (phrases / "exceptionphraselist").write_text("<homework help>\n")
    return bl, phrases


HELPER_BLOCK = "# --- URL filtering only: icapfilter as an external ACL helper"
LEARNED_BLOCK = "# --- URLs and learned pages by the helper, page scanning by RESPMOD"


def helper_lines(command: str, config: Path) -> str:
    """The commented squid-helper block of squid.conf.example, uncommented, with
    the installed paths replaced by ``command`` (how Squid runs icapfilter) and
    ``config``: the tests run the very lines the admin is told to use."""
    return _example_block(HELPER_BLOCK, command, config)


def helper_learned_lines(command: str, config: Path) -> str:
    """The URL helper block plus the learned-clean block of squid.conf.example,
    uncommented, as ``helper_lines`` does; placed before the example's own
    adaptation_access lines, as its comment says."""
    return helper_lines(command, config) + "\n" + _example_block(LEARNED_BLOCK, command, config)


def _example_block(title: str, command: str, config: Path) -> str:
    block = (ROOT / "squid.conf.example").read_text().split(title, 1)[1].split("\n# ---", 1)[0]
    lines = [ln[2:] for ln in block.splitlines()
             if ln.startswith("# ") and re.match(
                 r"# (external_acl_type|acl|deny_info|http_access|adaptation_access) ", ln)]
    text = "\n".join(lines)
    text = text.replace("/usr/local/bin/icapfilter", command)
    return text.replace("/usr/local/etc/icapfilter.conf", str(config))


@contextmanager
def helper_dir(prefix: str) -> Iterator[Path]:
    """A folder for what Squid's helpers read, removed afterwards. Squid runs
    them as its unprivileged user, who cannot enter pytest's temporary folders:
    call :func:`open_to_squid` once the files are written."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir="/tmp") as folder:
        yield Path(folder)


def open_to_squid(root: Path) -> None:
    """Make ``root`` and everything in it world-readable."""
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


SYSTEM_TEMPLATES = "/usr/share/squid/errors/templates"


def error_directory(root: Path) -> Path:
    """Squid's own error templates plus ERR_ICAPFILTER_BLOCKED under ``root``,
    where deny_info finds it by name (docs/squid-helper.md installs the
    template next to Squid's instead). World-readable, for Squid's user."""
    errors = root / "errors"
    if not os.path.isdir(SYSTEM_TEMPLATES):
        pytest.skip("Squid's error templates are not installed")
    shutil.copytree(SYSTEM_TEMPLATES, errors)
    shutil.copy(ROOT / "icapfilter" / "templates" / "ERR_ICAPFILTER_BLOCKED", errors)
    open_to_squid(errors)
    return errors


def helper_command() -> str:
    """How Squid's unprivileged user (proxy) can run ``python -m icapfilter``.

    Squid runs helpers as cache_effective_user, which may not reach this
    interpreter (a pyenv Python under a 0700 /root); Debian's python3 of the
    same minor version, with this checkout and the venv's packages on
    PYTHONPATH, is the fallback. Skips the test when neither works.
    """
    import site
    import sys

    path = ":".join([str(ROOT), *site.getsitepackages()])
    candidates = [sys.executable, "/usr/bin/python3"]
    for exe in candidates:
        command = f"/usr/bin/env PYTHONPATH={path} {exe} -m icapfilter"
        probe = subprocess.run(
            ["su", "-s", "/bin/sh", "proxy", "-c", f"cd / && {command} squid-helper --help"],
            capture_output=True, timeout=60)
        if probe.returncode == 0:
            return command
    pytest.skip("no Python the proxy user can run icapfilter with")


def squid_config(http_port: int, icap_port: int, workdir: Path, extra: str = "",
                 tail: str = "", port_options: str = "") -> str:
    """squid.conf.example for a test instance; ``extra`` lines go before its first
    http_access line (http_access rules apply in order), ``tail`` at the very end
    (where a directive overrides the example's, e.g. ``icap_enable off``),
    ``port_options`` after the http_port line's address (``ssl-bump ...``)."""
    text = (ROOT / "squid.conf.example").read_text()
    if extra:
        text = re.sub(r"^(http_access )", lambda m: extra.rstrip("\n") + "\n" + m.group(1), text,
                      count=1, flags=re.M)
    text = re.sub(r"^http_port 3128", f"http_port 127.0.0.1:{http_port} {port_options}".rstrip(),
                  text, flags=re.M)
    text = text.replace("icap://127.0.0.1:1344/", f"icap://127.0.0.1:{icap_port}/")
    return text + f"""
# --- test instance ---
pid_filename {workdir}/squid.pid
cache_log {workdir}/cache.log
access_log stdio:{workdir}/access.log
cache deny all
cache_mem 8 MB
coredump_dir {workdir}
hosts_file {workdir}/hosts
dns_nameservers 127.0.0.1
shutdown_lifetime 1 seconds
pinger_enable off
icap_service_failure_limit -1
forwarded_for delete
via off
""" + tail


class Squid:
    """A throw-away Squid on a free port in its own work dir; a context manager
    (stopped on exit). Subclasses change :meth:`configuration`."""

    def __init__(self, icap_port: int, extra: str = "", tail: str = "",
                 hosts: tuple[str, ...] = (), port_options: str = "") -> None:
        if not os.path.exists(SQUID):
            pytest.skip("squid is not installed (the test command installs it)")
        self.icap_port = icap_port
        self.extra, self.tail, self.port_options = extra, tail, port_options
        self.workdir = Path(tempfile.mkdtemp(prefix="icapfilter-squid-", dir="/tmp"))
        os.chmod(self.workdir, 0o777)
        (self.workdir / "hosts").write_text("127.0.0.1 localhost " + " ".join([*HOSTS, *hosts])
                                            + "\n")
        self.port = free_port()
        self.conf = self.workdir / "squid.conf"
        self.conf.write_text(self.configuration())
        # its own process group: stop() ends Squid with its helpers and pinger
        self.proc = subprocess.Popen([SQUID, "-N", "-f", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._wait_ready()

    def configuration(self) -> str:
        return squid_config(self.port, self.icap_port, self.workdir, self.extra, self.tail,
                            self.port_options)

    def _wait_ready(self) -> None:
        def accepting() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"squid exited: {self.proc.stderr.read().decode()[-2000:]}"
                                   f"\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                return False
            return True

        try:
            wait_until(accepting, timeout=30, interval=0.02)
        except WaitTimeout:
            log = self.log()
            self.stop()
            raise RuntimeError(f"squid did not start:\n{log}") from None

    def __enter__(self) -> Squid:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        path = self.workdir / "cache.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def get(self, url: str, timeout: float = 20.0, method: str = "GET",
            headers: dict[str, str] | None = None) -> Fetched:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, url, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            return Fetched(response.status, {k.lower(): v for k, v in response.getheaders()},
                           body)
        finally:
            conn.close()

    def connect(self, authority: str, timeout: float = 20.0) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("CONNECT", authority, headers={"Host": authority})
            return conn.getresponse().status
        finally:
            conn.close()

    def stop(self) -> None:
        """Kill Squid's process group: a test instance has nothing to save, and
        a clean shutdown takes Squid about two seconds of fixed steps."""
        if self.proc.poll() is None:  # not reaped: its id still names its group
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        if not os.environ.get("KEEP_SQUID"):
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes
