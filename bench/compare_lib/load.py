"""Load through Squid: wrk for the fixed-time test with N parallel connections,
an asyncio client for the fixed request rate with jitter, and single fetches
for the proof that a filter filters."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import random
import statistics
import subprocess
import time
from pathlib import Path

WRK_LUA = r"""
local urls = {}
counts = {}
local threads = {}
local n = 0
local i = 0
setup = function(thread)
  table.insert(threads, thread)
end
init = function(args)
  for line in io.lines(args[1]) do
    n = n + 1
    urls[n] = line
  end
  i = math.random(n)
  counts = {}
end
request = function()
  i = i % n + 1
  local url = urls[i]
  local host = url:match("^http://([^/]+)")
  return wrk.format("GET", url, {Host = host})
end
response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
done = function(summary, latency, requests)
  local statuses = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do statuses[tostring(k)] = (statuses[tostring(k)] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(statuses) do table.insert(parts, string.format('"%s": %d', k, v)) end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "mean_us": %f, "p50_us": %f, "p99_us": %f, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), table.concat(parts, ", ")))
end
"""


def run_wrk(
    workdir: Path, proxy_port: int, urls_file: Path, clients: int, seconds: float, timeout: float
) -> dict:
    lua = workdir / "mix.lua"
    lua.write_text(WRK_LUA)
    threads = min(2, clients)
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(clients),
        "-d",
        f"{seconds:.0f}s",
        "--timeout",
        f"{timeout:.0f}s",
        "-s",
        str(lua),
        f"http://127.0.0.1:{proxy_port}/",
        "--",
        str(urls_file),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout + 60)
    line = next((x for x in res.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {res.stdout[-1000:]} {res.stderr[-1000:]}")
    d = json.loads(line[8:])
    secs = d["duration_us"] / 1e6
    return {
        "fetches": d["requests"],
        "rps": d["requests"] / secs if secs else 0.0,
        "mean_ms": d["mean_us"] / 1000,
        "p50_ms": d["p50_us"] / 1000,
        "p99_ms": d["p99_us"] / 1000,
        "timeouts": d["timeout"],
        "errors": d["connect"] + d["read"] + d["write"],
        "statuses": {int(k): v for k, v in d["statuses"].items()},
        "retries": None,
    }


async def _fetch(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str
) -> tuple[int, bool]:
    """One GET through the proxy; returns (status, keep_alive)."""
    host = url.split("/")[2]
    writer.write(f"GET {url} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.read()
        return status, False
    return status, headers.get("connection", "").lower() != "close"


async def _rate_client(
    port: int,
    urls: list[str],
    interval: float,
    end: float,
    timeout: float,
    rng: random.Random,
    out: dict,
    measure_from: float = 0.0,
) -> None:
    """Requests sent before ``measure_from`` (the warm-up) are made but not counted."""
    conn = None
    next_at = time.monotonic() + rng.uniform(0, interval)
    while True:
        now = time.monotonic()
        if next_at >= end:
            break
        if next_at > now:
            await asyncio.sleep(next_at - now)
        next_at += interval * rng.uniform(0.5, 1.5)  # jitter around the mean rate
        url = urls[rng.randrange(len(urls))]
        # a warm-up request: the counters go to a scratch dict
        o = out if time.monotonic() >= measure_from else _scratch()
        started = time.perf_counter()
        try:
            reused = conn is not None
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
            try:
                status, keep = await asyncio.wait_for(_fetch(*conn, url), timeout)
            except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as e:
                # Squid closed the idle persistent connection (it does so after a REQMOD
                # block page): retry once on a new one, as browsers do.
                if not reused or (isinstance(e, asyncio.IncompleteReadError) and e.partial):
                    raise
                o["retries"] += 1
                conn[1].close()
                conn = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
                status, keep = await asyncio.wait_for(_fetch(*conn, url), timeout)
        except TimeoutError:
            o["timeouts"] += 1
            if conn:
                conn[1].close()
            conn = None
            continue
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            o["errors"] += 1
            if conn:
                conn[1].close()
            conn = None
            continue
        o["lat"].append(time.perf_counter() - started)
        o["statuses"][status] = o["statuses"].get(status, 0) + 1
        if not keep:
            conn[1].close()
            conn = None
    if conn:
        conn[1].close()


def run_rate(
    proxy_port: int,
    urls: list[str],
    clients: int,
    rate: float,
    seconds: float,
    timeout: float,
    seed: int,
    warmup: float = 0.0,
) -> dict:
    """``clients`` connections sharing ``rate`` requests/s, each waiting a jittered
    interval (uniform 0.5-1.5 x the mean) between sends; a slow answer delays that
    client's next request (so the achieved rate shows saturation). The first
    ``warmup`` seconds run the same load untimed: connection setup to Squid and
    Squid's first requests to the origin and the filter are not sampled. The
    result keeps every sampled latency (``lat_ms``) so repeats can be pooled."""
    out = _scratch()

    async def main() -> float:
        started = time.monotonic() + warmup
        end = started + seconds
        rngs = [random.Random(seed * 1000 + i) for i in range(clients)]
        await asyncio.gather(
            *(
                _rate_client(proxy_port, urls, clients / rate, end, timeout, r, out, started)
                for r in rngs
            )
        )
        return time.monotonic() - started

    elapsed = asyncio.run(main())
    lat = sorted(out["lat"])
    n = len(lat)
    return {
        "fetches": n,
        "rps": n / elapsed if elapsed else 0.0,
        "mean_ms": statistics.fmean(lat) * 1000 if n else 0.0,
        "p50_ms": lat[n // 2] * 1000 if n else 0.0,
        "p99_ms": lat[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0,
        "timeouts": out["timeouts"],
        "errors": out["errors"],
        "statuses": out["statuses"],
        "retries": out["retries"],
        "warmup_s": warmup,
        "lat_ms": [round(x * 1000, 3) for x in lat],
    }


def _scratch() -> dict:
    return {"lat": [], "statuses": {}, "timeouts": 0, "errors": 0, "retries": 0}


def fetch(proxy_port: int, url: str, timeout: float) -> tuple[int, bytes, dict]:
    """(status, decoded body, headers); status -1 on timeout, -2 on another error."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=timeout)
    try:
        conn.request("GET", url, headers={"Host": url.split("/")[2]})
        r = conn.getresponse()
        body = r.read()
        headers = {k.lower(): v for k, v in r.getheaders()}
        if headers.get("content-encoding") == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                pass
        return r.status, body, headers
    except TimeoutError:
        return -1, b"", {}
    except (OSError, http.client.HTTPException):
        return -2, b"", {}
    finally:
        conn.close()
