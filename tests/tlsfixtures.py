"""Throw-away TLS material for the HTTPS tests: certificate authorities made
with the ``openssl`` command, server certificates they sign, a local HTTPS
origin serving tests.squidserver's pages, and a client that speaks TLS through
a proxy tunnel with an SNI of its choosing (what a browser does, and what curl
cannot do when the CONNECT names an IP).

Two CAs play two roles, as on a real site: the *origin CA* signs the test web
servers' certificates (the public web's CAs; Squid trusts it through
``tls_outgoing_options cafile=``), the *bump CA* is the site's own CA that
Squid signs mimicked certificates with (what clients install)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.squidserver import OriginHandler

OPENSSL = shutil.which("openssl")
CERTGEN = "/usr/lib/squid/security_file_certgen"


def _openssl(*args: str, cwd: Path) -> None:
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed")
    done = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {done.stderr.decode()[-1000:]}")


def world_readable_dir(prefix: str) -> Path:
    """A fresh directory under /tmp that Squid's user (proxy) can read: Squid
    and its certificate helper drop root before they open some of these files."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o755)
    return path


@dataclass(frozen=True)
class CA:
    cert: Path  # PEM certificate, what clients trust
    key: Path   # PEM private key
    bundle: Path  # certificate and key in one file, as Squid's tls-cert= takes them


def make_ca(directory: Path, name: str) -> CA:
    """A self-signed CA valid for two days (EC P-256: quick to make)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "2", "-subj", f"/CN=icapfilter test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", str(key), "-out", str(cert), cwd=directory)
    bundle = directory / f"{name}-bundle.pem"
    bundle.write_bytes(cert.read_bytes() + key.read_bytes())
    for path in (cert, key, bundle):
        os.chmod(path, 0o644)
    return CA(cert, key, bundle)


def issue(ca: CA, directory: Path, name: str, hosts: list[str]) -> tuple[Path, Path]:
    """A server certificate for ``hosts`` (DNS names; 127.0.0.1 added as an IP
    name) signed by ``ca``: returns (certificate, key)."""
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
    ext = directory / f"{name}.ext"
    names = ",".join([f"DNS:{h}" for h in hosts] + ["IP:127.0.0.1"])
    ext.write_text(f"subjectAltName={names}\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-subj", f"/CN={hosts[0]}", "-keyout", str(key), "-out", str(csr), cwd=directory)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert),
             cwd=directory)
    return cert, key


def init_cert_db(path: Path, size: str = "4MB") -> Path:
    """Squid's certificate cache (sslcrtd_program's -s directory), created with
    security_file_certgen -c and handed to Squid's user, as an admin does once."""
    if not os.path.exists(CERTGEN):
        pytest.skip("security_file_certgen is not installed (Debian's squid-openssl has it)")
    done = subprocess.run([CERTGEN, "-c", "-s", str(path), "-M", size], capture_output=True,
                          timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"security_file_certgen -c: {done.stderr.decode()[-1000:]}")
    shutil.chown(path, "proxy", "proxy")
    for sub in path.rglob("*"):
        shutil.chown(sub, "proxy", "proxy")
    return path


# -- a local HTTPS origin ---------------------------------------------------------

class _TlsServer(ThreadingHTTPServer):
    """Wraps each accepted socket; the handshake runs in the handler's thread,
    so a client that never finishes one cannot stall the accept loop."""

    daemon_threads = True
    context: ssl.SSLContext

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, addr = super().get_request()
        sock.settimeout(20)
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass  # a client that gave up on our certificate is no test failure here


@dataclass
class HttpsOrigin:
    port: int
    server: _TlsServer
    requests: list[str]  # "Host path" of every request served, in order
    handshakes: list[str]  # the SNI of every TLS handshake begun, in order

    def url(self, host: str, path: str) -> str:
        return f"https://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_https_origin(cert: Path, key: Path) -> HttpsOrigin:
    """tests.squidserver's origin pages (/page/N, /bad/N, ...) over TLS on a free
    loopback port, recording which host and path each request asked for."""
    requests: list[str] = []
    handshakes: list[str] = []

    class Handler(OriginHandler):
        def do_GET(self) -> None:  # noqa: N802
            requests.append(f"{self.headers.get('Host', '')} {self.path}")
            super().do_GET()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: handshakes.append(name or "")
    server = _TlsServer(("127.0.0.1", 0), Handler)
    server.context = context
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    return HttpsOrigin(server.server_address[1], server, requests, handshakes)


# -- a client through a proxy tunnel ----------------------------------------------

@dataclass
class TunnelResult:
    connect_status: int  # the proxy's answer to CONNECT
    handshake_error: str | None = None  # why TLS failed, when it did
    status: int | None = None  # the HTTP status inside the tunnel
    body: bytes = b""
    issuer: str | None = None  # the certificate's issuer CN the client was shown


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > 65536:
            break
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def through_tunnel(proxy_port: int, authority: str, sni: str, path: str, cafile: Path,
                   host_header: str | None = None, timeout: float = 15.0) -> TunnelResult:
    """``CONNECT authority`` through the proxy, then TLS with ``sni`` (verified
    against ``cafile`` for that name), then ``GET path``. Lets a test send a
    CONNECT to an IP with the SNI of a named site, as browsers behind some
    DNS setups and evasive clients do."""
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout) as raw:
        raw.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        head, rest = _read_head(raw)
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        if status != 200:
            return TunnelResult(status)
        assert not rest, "bytes after the CONNECT answer"
        context = ssl.create_default_context(cafile=str(cafile))
        try:
            tls = context.wrap_socket(raw, server_hostname=sni)
        except (ssl.SSLError, OSError) as exc:
            return TunnelResult(status, handshake_error=str(exc))
        with tls:
            issuer = dict(x[0] for x in tls.getpeercert()["issuer"]).get("commonName")
            port = authority.rpartition(":")[2]
            host = host_header or (sni if port == "443" else f"{sni}:{port}")
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                        .encode())
            data = b""
            try:
                while chunk := tls.recv(65536):
                    data += chunk
            except (ssl.SSLError, OSError):
                pass  # an unclean close after the answer is the server's business
        head, _, body = data.partition(b"\r\n\r\n")
        inner = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else None
        if b"transfer-encoding: chunked" in head.lower():
            body = _unchunk(body)
        return TunnelResult(status, None, inner, body, issuer)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        line, _, data = data.partition(b"\r\n")
        size = int(line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out
