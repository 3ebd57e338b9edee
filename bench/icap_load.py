#!/usr/bin/env python3
"""Direct ICAP load: N client processes, each on one persistent connection,
send prebuilt REQMOD or RESPMOD messages for a fixed time and report
requests/s and latency percentiles. Prints figures; asserts nothing.

    python bench/icap_load.py --port 1344 --mode reqmod --clients 4 --seconds 10
    python bench/icap_load.py --port 1344 --mode respmod --body page.html.gz --gzip

Used by bench/blacklist_bench.py and bench/respmod_bench.py, or on its own
against any running ICAP server.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import socket
import statistics
import time


def reqmod_message(url: str) -> bytes:
    host = url.split("/")[2]
    req = f"GET {url} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    return (f"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\nAllow: 204\r\n"
            f"Encapsulated: req-hdr=0, null-body={len(req)}\r\n\r\n").encode() + req


def respmod_message(url: str, body: bytes, content_encoding: str | None) -> bytes:
    host = url.split("/")[2]
    req = f"GET {url} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    res = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
    if content_encoding:
        res += f"Content-Encoding: {content_encoding}\r\n"
    res = (res + f"Content-Length: {len(body)}\r\n\r\n").encode()
    chunks = b"".join(b"%x\r\n%b\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
                      for i in range(0, len(body), 8192)) + b"0\r\n\r\n"
    head = (f"RESPMOD icap://127.0.0.1/respmod ICAP/1.0\r\nHost: 127.0.0.1\r\nAllow: 204\r\n"
            f"Encapsulated: req-hdr=0, res-hdr={len(req)}, res-body={len(req) + len(res)}"
            f"\r\n\r\n").encode()
    return head + req + res + chunks


def recv_until(sock: socket.socket, buf: bytearray, marker: bytes) -> int:
    while marker not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed by the filter")
        buf += data
    return buf.index(marker)


def recv_n(sock: socket.socket, buf: bytearray, n: int) -> None:
    while len(buf) < n:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed by the filter")
        buf += data


def read_answer(sock: socket.socket, buffer: bytearray) -> int:
    """Read one ICAP answer; return its status.

    Tolerant of two peer habits (bench/compare drives c-icap and e2guardian
    with it): c-icap sends its 204 without an Encapsulated header, e2guardian
    writes "ISTag:x" without a space. No Encapsulated header means no
    encapsulated part. A connection closed mid-answer raises ConnectionError.
    """
    end = recv_until(sock, buffer, b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    del buffer[:end]
    status = int(head.split(b" ", 2)[1])
    enc = b""
    for line in head.split(b"\r\n")[1:]:
        if line[:13].lower() == b"encapsulated:":
            enc = line[13:]
    if not enc.strip():
        return status
    parts = dict(p.strip().split(b"=") for p in enc.split(b","))
    body_key = next(k for k in parts if k.endswith(b"body"))
    need = int(parts[body_key])
    recv_n(sock, buffer, need)
    del buffer[:need]
    if body_key != b"null-body":
        while True:
            i = recv_until(sock, buffer, b"\r\n")
            size = int(bytes(buffer[:i]).split(b";")[0], 16)
            recv_n(sock, buffer, i + 2 + size + 2)
            del buffer[: i + 2 + size + 2]
            if size == 0:
                break
    return status


def client(port: int, messages: list[bytes], seconds: float, seed: int, out: mp.Queue) -> None:
    rng = random.Random(seed)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        message = messages[rng.randrange(len(messages))]
        started = time.perf_counter()
        try:
            sock.sendall(message)
            status = read_answer(sock, buffer)
        except OSError:
            errors += 1
            sock.close()
            sock = socket.create_connection(("127.0.0.1", port))
            buffer.clear()
            continue
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
    sock.close()
    out.put((latencies, statuses, errors))


def run_load(port: int, messages: list[bytes], clients: int, seconds: float) -> dict:
    queue: mp.Queue = mp.Queue()
    procs = [mp.Process(target=client, args=(port, messages, seconds, i, queue))
             for i in range(clients)]
    started = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    latencies = sorted(x for r in results for x in r[0])
    statuses: dict[int, int] = {}
    for r in results:
        for k, v in r[1].items():
            statuses[k] = statuses.get(k, 0) + v
    n = len(latencies)
    return {
        "requests": n,
        "rps": n / seconds,
        "elapsed": elapsed,
        "mean_ms": statistics.fmean(latencies) * 1e3 if n else 0,
        "p50_ms": latencies[n // 2] * 1e3 if n else 0,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1e3 if n else 0,
        "statuses": statuses,
        "errors": sum(r[2] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=1344)
    parser.add_argument("--mode", choices=["reqmod", "respmod"], default="reqmod")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--body", help="file to send as the RESPMOD body")
    parser.add_argument("--gzip", action="store_true", help="label the body Content-Encoding gzip")
    args = parser.parse_args()
    if args.mode == "reqmod":
        messages = [reqmod_message(f"http://host{i}.example.com/p/{i}") for i in range(1000)]
    else:
        body = open(args.body, "rb").read() if args.body else b"<p>hello</p>" * 5000
        messages = [respmod_message("http://clean.example.com/", body,
                                    "gzip" if args.gzip else None)]
    result = run_load(args.port, messages, args.clients, args.seconds)
    print(f"{args.mode}: {result['rps']:.0f} req/s, mean {result['mean_ms']:.2f} ms, "
          f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
          f"statuses {result['statuses']}, errors {result['errors']}")


if __name__ == "__main__":
    main()
