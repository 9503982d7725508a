"""Load generation for the benches: `wrk` when installed, else an httpx fallback; and lone latency.

Throughput is `wrk -t2 -c32` (the issue's setup). The fallback (asyncio + httpx, same concurrency)
saturates one core by itself, so its figures are lower than wrk's; the table says which one ran.
Lone latency is sequential requests over one keep-alive connection: the cost of a request alone.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass

import httpx

WRK = shutil.which("wrk")
CONCURRENCY = 32


@dataclass
class Throughput:
    rps: float
    errors: int
    tool: str


def throughput(url: str, seconds: float, headers: dict[str, str] | None = None) -> Throughput:
    if WRK:
        return _wrk(url, seconds, headers or {})
    return asyncio.run(_httpx_load(url, seconds, headers or {}))


def _wrk(url: str, seconds: float, headers: dict[str, str]) -> Throughput:
    assert WRK is not None
    command = [WRK, "-t2", f"-c{CONCURRENCY}", f"-d{max(1, round(seconds))}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = int(bad.group(1)) if bad else 0
    if errors:
        failed += sum(int(g) for g in errors.groups())
    return Throughput(float(rps.group(1)) if rps else 0.0, failed, "wrk")


async def _httpx_load(url: str, seconds: float, headers: dict[str, str]) -> Throughput:
    done = errors = 0
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done, errors
        while time.monotonic() < deadline:
            try:
                if (await client.get(url, headers=headers)).status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            done += 1

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        began = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - began
    return Throughput(done / elapsed, errors, "httpx")


def lone_ms(
    url: str, *, count: int = 200, budget_s: float = 5.0, headers: dict[str, str] | None = None
) -> float:
    """Median milliseconds of sequential GETs on one connection (at least 3, at most `count`,
    stopping after `budget_s`); raises if any answer is not 200."""
    timings: list[float] = []
    with httpx.Client(timeout=120, headers=headers) as client:
        client.get(url)  # warm the connection and the server's caches of compiled statements
        began = time.monotonic()
        while len(timings) < count and (len(timings) < 3 or time.monotonic() - began < budget_s):
            start = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")
    return statistics.median(timings)
