"""Load generation for the benches: `wrk` when installed, else an httpx fallback; and lone latency.

Throughput is `wrk -t2 -c32` (the issue's setup). The fallback (asyncio + httpx, same concurrency)
saturates one core by itself, so its figures are lower than wrk's; the table says which one ran.
Lone latency is sequential requests over one keep-alive connection: the cost of a request alone. They
are sent by `RawClient`, a few lines on a plain socket, because an httpx client's own Python costs about
half a millisecond per request on this class of machine (more under load), as much as the server's
whole answer: `httpx_lone_ms` keeps the old method only to compare the two on the bare endpoint. The
server's CPU per request (all its threads, from /proc) is measured over the same requests: it moves
less with the machine's load than a latency does.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

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


@dataclass
class Lone:
    """Sequential requests on one keep-alive connection: the p50 in ms, and the server's CPU per request
    in ms (None when its process was not given)."""

    p50_ms: float
    cpu_ms: float | None


def lone(
    url: str,
    *,
    count: int = 200,
    budget_s: float = 5.0,
    headers: dict[str, str] | None = None,
    pid: int | None = None,
) -> Lone:
    """Median milliseconds of sequential GETs on one connection by `RawClient` (at least 3, at most
    `count`, stopping after `budget_s`; raises if any answer is not 200), and with `pid` the CPU that
    process spent per request over them (all its threads, from the scheduler's nanosecond counters)."""
    with _Sampler(url, headers or {}, pid) as sampler:
        began = time.monotonic()
        while len(sampler.timings) < count and (
            len(sampler.timings) < 3 or time.monotonic() - began < budget_s
        ):
            sampler.run(1)
        return sampler.result()


def lone_pair(url: str, pid: int, ref_url: str, ref_pid: int, *, seconds: float = 4.0) -> tuple[Lone, Lone]:
    """`lone` of `url` and of the reference `ref_url`, in alternating blocks of 20 requests for
    `seconds`: on a shared machine both see the same moments of its load, so they compare."""
    with _Sampler(url, {}, pid) as sampler, _Sampler(ref_url, {}, ref_pid) as reference:
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            sampler.run(20)
            reference.run(20)
        return sampler.result(), reference.result()


class _Sampler:
    """Sequential GETs on one connection, timed one by one, with the server's CPU over them."""

    def __init__(self, url: str, headers: dict[str, str], pid: int | None) -> None:
        self.url, self.pid = url, pid
        self.client = RawClient(url, headers)
        self.timings: list[float] = []
        self.cpu_ns = 0

    def __enter__(self) -> _Sampler:
        self.client.get()  # warm the connection and the server's caches of compiled statements
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()

    def run(self, requests: int) -> None:
        cpu_before = cpu_ns(self.pid) if self.pid else 0
        for _ in range(requests):
            start = time.perf_counter()
            status, body = self.client.get()
            self.timings.append((time.perf_counter() - start) * 1000)
            if status != 200:
                raise RuntimeError(f"GET {self.url}: {status} {body[:300]!r}")
        if self.pid:
            self.cpu_ns += cpu_ns(self.pid) - cpu_before

    def result(self) -> Lone:
        cpu = self.cpu_ns / 1e6 / len(self.timings) if self.pid else None
        return Lone(statistics.median(self.timings), cpu)


def lone_ms(
    url: str, *, count: int = 200, budget_s: float = 5.0, headers: dict[str, str] | None = None
) -> float:
    """`lone(...)`'s p50 alone."""
    return lone(url, count=count, budget_s=budget_s, headers=headers).p50_ms


def httpx_lone_ms(url: str, *, count: int = 200, budget_s: float = 5.0) -> float:
    """The same median, timed through an `httpx.Client` (the bench's method before `RawClient`): the
    client's own Python adds about half a millisecond per request on this class of machine, so this is
    kept only to show the two methods side by side on the bare endpoint."""
    timings: list[float] = []
    with httpx.Client(timeout=120) as client:
        client.get(url)
        began = time.monotonic()
        while len(timings) < count and (len(timings) < 3 or time.monotonic() - began < budget_s):
            start = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")
    return statistics.median(timings)


def wrk_lone_ms(url: str, seconds: float) -> float | None:
    """p50 of `wrk -t1 -c1 --latency` (one connection, one request at a time), None without wrk."""
    if not WRK:
        return None
    command = [WRK, "-t1", "-c1", "--latency", f"-d{max(1, round(seconds))}s", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if found is None:
        return None
    return float(found[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[found[2]]


def cpu_ns(pid: int) -> int:
    """Nanoseconds on a CPU so far, summed over the process's threads (/proc/<pid>/task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on a plain socket: one prebuilt GET, the answer read up to its
    Content-Length (or a chunked body's end). Its own cost is tens of microseconds, so a lone request's
    time is the server's (and the loopback's), not the client library's."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: */*"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.sock.close()

    def get(self) -> tuple[int, bytes]:
        """The status and the body of one GET."""
        self.sock.sendall(self.request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head[9:12])
        length = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
        if length is not None:
            while len(body) < int(length[1]):
                body += self._recv()
        elif re.search(rb"\r\ntransfer-encoding:\s*chunked", head, re.IGNORECASE):
            while not body.endswith(b"0\r\n\r\n"):
                body += self._recv()
        return status, body

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk
