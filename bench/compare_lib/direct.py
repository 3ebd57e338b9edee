"""Direct ICAP load (no Squid): REQMOD decisions/s on the URL mix and RESPMOD
requests/s for one ~60 KB gzip page, sent straight to each filter's ICAP port on
persistent connections by bench/icap_load.py's client (imported, not copied).

Before any timing each filter must, over direct ICAP, block a listed URL (REQMOD)
and a page over the phrase limit (RESPMOD), pass a clean URL and the clean page,
and answer several messages in a row on one connection as icap_load's reader
expects; a filter that does not is reported with the reason and not timed.
"""

from __future__ import annotations

import gzip
import multiprocessing as mp
import os
import signal
import socket
import sys

from . import corpus as C
from .peers import ROOT, Scenario, log, tree

sys.path.insert(0, str(ROOT))
from bench import icap_load  # noqa: E402
from bench.icap_load import read_answer, recv_n, recv_until  # noqa: E402

PAGE_SIZE = 60 * 1024


def _retarget(message: bytes, port: int, service: str) -> bytes:
    """icap_load's messages name icap://127.0.0.1/reqmod (or respmod): point the
    request line at the peer's port and service."""
    line, rest = message.split(b"\r\n", 1)
    method, _, version = line.split(b" ")
    return b"%s icap://127.0.0.1:%d/%s %s\r\n" % (method, port, service.encode(), version) + rest


def pick_page(items: list[C.Item], label: str) -> C.Item:
    """The HTML page of ``label`` whose decoded size is closest to 60 KB."""
    fits = [it for it in items if it.label == label and it.kind in ("html", "gzip")]
    if not fits:
        raise SystemExit(f"the corpus has no {label} HTML page: use more --items")
    return min(fits, key=lambda it: abs(len(it.text) - PAGE_SIZE))


class Messages:
    """The prebuilt messages, the same for every filter but for the service URI."""

    def __init__(self, items: list[C.Item], hosts: C.Hosts, oport: int, seed: int) -> None:
        self.urls = C.url_mix(items, hosts, oport, 5000, seed)
        self.page = pick_page(items, "clean")
        self.bad_page = pick_page(items, "over")
        self.body = gzip.compress(self.page.text, 6, mtime=0)
        self.bad_body = gzip.compress(self.bad_page.text, 6, mtime=0)
        suffix = "" if oport == 80 else f":{oport}"
        self.page_urls = [f"http://{h}{suffix}{self.page.path}" for h in hosts.clean[:500]]
        self.good_url = f"http://{hosts.clean[0]}{suffix}/item/1.html"
        self.bad_url = f"http://{hosts.listed_domain[0]}{suffix}/item/1.html"
        self.shared: dict[str, list[tuple[str, str]]] = {}

    def describe(self) -> str:
        return (
            f"REQMOD: the {len(self.urls)}-URL mix of the Squid runs (10% listed hosts); "
            f"RESPMOD: one clean page, {len(self.page.text) / 1024:.0f} KB HTML sent "
            f"gzip-encoded ({len(self.body) / 1024:.0f} KB), under {len(self.page_urls)} URLs"
        )

    def reqmod(self, sc: Scenario) -> list[bytes]:
        return [
            _retarget(icap_load.reqmod_message(u), sc.icap_port, sc.services[0]) for u in self.urls
        ]

    def respmod(self, sc: Scenario) -> list[bytes]:
        shared = self.shared.get(sc.key, [])
        return [
            _retarget(
                _with_headers(icap_load.respmod_message(u, self.body, "gzip"), shared),
                sc.icap_port,
                sc.services[1],
            )
            for u in self.page_urls
        ]


# ---------------------------------------------------------------- proof


def exchange(
    port: int, message: bytes, timeout: float
) -> tuple[int, str, int, bytes, dict[str, str]]:
    """Send one message on a new connection; return (ICAP status, the first
    encapsulated section name, encapsulated HTTP status or 0, decoded body, ICAP
    headers with lower-case names)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(message)
        buf = bytearray()
        end = recv_until(sock, buf, b"\r\n\r\n") + 4
        head = bytes(buf[:end]).decode("latin-1")
        del buf[:end]
        status = int(head.split(" ", 2)[1])
        headers = {}
        for line in head.split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        enc = headers.get("encapsulated", "")
        parts = [p.strip().split("=") for p in enc.split(",") if "=" in p]
        if not parts:
            return status, "", 0, b"", headers
        first = parts[0][0]
        body_at = int(parts[-1][1])
        recv_n(sock, buf, body_at)
        http = bytes(buf[:body_at]).decode("latin-1")
        del buf[:body_at]
        http_status = 0
        gz = False
        if first == "res-hdr":
            res = http[int(dict(parts).get("res-hdr", 0)) :]
            http_status = int(res.split(" ", 2)[1])
            gz = "content-encoding: gzip" in res.lower()
        body = bytearray()
        if parts[-1][0] != "null-body":
            while True:
                i = recv_until(sock, buf, b"\r\n")
                size = int(bytes(buf[:i]).split(b";")[0], 16)
                recv_n(sock, buf, i + 2 + size + 2)
                body += buf[i + 2 : i + 2 + size]
                del buf[: i + 2 + size + 2]
                if size == 0:
                    break
        data = bytes(body)
        if gz:
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                pass
        return status, first, http_status, data, headers


def _with_headers(message: bytes, headers: list[tuple[str, str]]) -> bytes:
    if not headers:
        return message
    line, rest = message.split(b"\r\n", 1)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers).encode("latin-1")
    return line + b"\r\n" + extra + rest


def verify(sc: Scenario, msgs: Messages, timeout: float) -> dict[str, list[str]]:
    """Problems found over direct ICAP, per mode ("reqmod", "respmod"); empty
    lists when the filter filters and keeps its connections usable. Sets
    ``msgs.shared[sc.key]``: the headers of the REQMOD answer that Squid hands on
    to RESPMOD (``adaptation_masterx_shared_names``: e2guardian's X-ICAP-E2G, without
    which its RESPMOD answers 418)."""
    problems: dict[str, list[str]] = {"reqmod": [], "respmod": []}
    req, resp = sc.services
    msgs.shared[sc.key] = []
    if sc.shared_headers:
        try:
            answer = exchange(
                sc.icap_port,
                _retarget(icap_load.reqmod_message(msgs.page_urls[0]), sc.icap_port, req),
                timeout,
            )
        except (OSError, ValueError, IndexError) as e:
            why = f"REQMOD for the shared headers: no usable answer ({e})"
            return {"reqmod": [why], "respmod": [why]}
        msgs.shared[sc.key] = [
            (name, answer[4][name.lower()])
            for name in sc.shared_headers
            if name.lower() in answer[4]
        ]
    checks = [
        ("reqmod", "clean URL", "pass", icap_load.reqmod_message(msgs.good_url), None),
        ("reqmod", "listed domain", "block", icap_load.reqmod_message(msgs.bad_url), None),
        (
            "respmod",
            "clean 60 KB gzip page",
            "pass",
            icap_load.respmod_message(msgs.page_urls[0], msgs.body, "gzip"),
            msgs.page.text,
        ),
        (
            "respmod",
            "page over the phrase limit",
            "block",
            icap_load.respmod_message(msgs.page_urls[1], msgs.bad_body, "gzip"),
            msgs.bad_page.text,
        ),
    ]
    for mode, what, want, message, original in checks:
        service = req if mode == "reqmod" else resp
        if mode == "respmod":
            message = _with_headers(message, msgs.shared[sc.key])
        try:
            status, first, http_status, body, _ = exchange(
                sc.icap_port, _retarget(message, sc.icap_port, service), timeout
            )
        except (OSError, ValueError, IndexError) as e:
            problems[mode].append(f"{what}: no usable answer ({type(e).__name__}: {e})")
            continue
        if status == 204:
            got = "pass"
        elif status == 200 and first == "req-hdr":
            got = "pass"  # the request echoed back, unchanged or not: not a block page
        elif status == 200 and first == "res-hdr":
            if original is not None and http_status == 200 and body == original:
                got = "pass"
            else:
                got = "block"
        else:
            problems[mode].append(f"{what}: ICAP {status} ({first or 'no Encapsulated'})")
            continue
        if got != want:
            problems[mode].append(
                f"{what}: expected {want}, got {got} (ICAP {status}, HTTP {http_status})"
            )
    # the load's reader on one persistent connection: a block, then clean messages
    bad_req = _retarget(icap_load.reqmod_message(msgs.bad_url), sc.icap_port, req)
    bad_resp = _retarget(
        _with_headers(
            icap_load.respmod_message(msgs.page_urls[1], msgs.bad_body, "gzip"),
            msgs.shared[sc.key],
        ),
        sc.icap_port,
        resp,
    )
    for mode, messages in (
        ("reqmod", [bad_req, *msgs.reqmod(sc)[:20]]),
        ("respmod", [bad_resp, *msgs.respmod(sc)[:3]]),
    ):
        if problems[mode]:
            continue
        # A filter may close the connection after an answer (icap_load reconnects and
        # counts an error); an answer that never comes on an open connection would hang
        # icap_load's clients, so that refuses the mode.
        done = 0
        sock = None
        try:
            for m in messages:
                for attempt in (1, 2):
                    if sock is None:
                        sock = socket.create_connection(("127.0.0.1", sc.icap_port), timeout)
                        buf = bytearray()
                    try:
                        sock.sendall(m)
                        read_answer(sock, buf)
                        break
                    except (ConnectionError, BrokenPipeError):
                        sock.close()
                        sock = None
                        if attempt == 2 or buf:
                            raise
                done += 1
        except (OSError, ValueError, IndexError, KeyError, StopIteration) as e:
            problems[mode].append(
                f"a block answer then {len(messages) - 1} clean messages on one persistent "
                f"connection: message {done + 1} got no usable answer within {timeout:.0f} s "
                f"({type(e).__name__}: {e})"
            )
        finally:
            if sock is not None:
                sock.close()
    return problems


# ---------------------------------------------------------------- load


def _worker(port: int, messages: list[bytes], clients: int, seconds: float, conn) -> None:  # noqa: ANN001
    try:
        conn.send(icap_load.run_load(port, messages, clients, seconds))
    except Exception as e:  # noqa: BLE001 - reported by the parent
        conn.send({"failed": f"{type(e).__name__}: {e}"})


def run(sc: Scenario, messages: list[bytes], clients: int, seconds: float, timeout: float) -> dict:
    """icap_load.run_load in a child process, so that a filter that stalls a
    connection (icap_load's clients have no socket timeout) cannot hang the run:
    after seconds + timeout + 30 s the child and its clients are killed."""
    parent, child = mp.Pipe(duplex=False)
    proc = mp.get_context("fork").Process(
        target=_worker, args=(sc.icap_port, messages, clients, seconds, child)
    )
    proc.start()
    child.close()
    result = None
    if parent.poll(seconds + timeout + 30):
        try:
            result = parent.recv()
        except EOFError:
            result = None
    if result is None:
        for pid in reversed(tree(proc.pid)):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        result = {"failed": f"no result within {seconds + timeout + 30:.0f} s (stalled)"}
    proc.join(10)
    if "failed" in result:
        log(f"    direct load on {sc.name} failed: {result['failed']}")
        return {
            "requests": 0,
            "rps": 0.0,
            "mean_ms": 0.0,
            "p50_ms": 0.0,
            "p99_ms": 0.0,
            "statuses": {},
            "errors": 0,
            "timeouts": 1,
            "failed": result["failed"],
        }
    result["timeouts"] = 0
    return result
