"""Livy API figures from one run against a real gateway process (embedded SQLite, local Spark).

Prints:
  1. requests/s of GET /api/livy/batches/{id} and of GET /health on the same server, and their ratio;
  2. time from POST /batches to state `running`, against bare `spark-submit` of the same file to the
     moment Spark reports the application started (the same signal the gateway uses).

Usage: python bench/livy_bench.py [--seconds 10] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.e2e.conftest import GatewayProcess, free_port  # noqa: E402

STARTED_MARKERS = ("Bound SparkUI to", "SparkContext: Submitted application")


async def hammer(url: str, seconds: float, concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                response = await client.get(url)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        began = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    return len(latencies) / elapsed, latencies, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def bare_spark_submit_to_running(env: dict[str, str]) -> float:
    import pyspark

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    start = time.monotonic()
    proc = subprocess.Popen(
        [str(submit), "--master", "local[*]", str(REPO / "examples" / "pi.py"), "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    elapsed = float("nan")
    for line in proc.stdout:
        if any(marker in line for marker in STARTED_MARKERS):
            elapsed = time.monotonic() - start
            break
    proc.wait()
    return elapsed


def gateway_post_to_running(client: httpx.Client) -> float:
    start = time.monotonic()
    body = {"file": str(REPO / "examples" / "pi.py"), "args": ["2"]}
    batch = client.post("/api/livy/batches", json=body)
    batch.raise_for_status()
    batch_id = batch.json()["id"]
    elapsed: float | None = None
    while True:
        state = client.get(f"/api/livy/batches/{batch_id}/state").json()["state"]
        if elapsed is None and state in ("running", "success", "error", "dead"):
            elapsed = time.monotonic() - start
        if state in ("success", "error", "dead"):
            return elapsed if elapsed is not None else float("nan")  # runs never overlap
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--startup-runs", type=int, default=3)
    args = parser.parse_args()

    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
    env["PYTHONPATH"] = str(REPO / "src")
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "gateway.yaml"
        conf.write_text(f"dataDir: {tmp}/data\n")
        gw = GatewayProcess(conf, free_port(), Path(tmp) / "gateway.log", env).start()
        try:
            with httpx.Client(base_url=gw.url, timeout=60) as client:
                post_to_running = [gateway_post_to_running(client) for _ in range(args.startup_runs)]
                batch_id = client.get("/api/livy/batches").json()["sessions"][0]["id"]
            batch_rps, batch_lat, batch_err = asyncio.run(
                hammer(f"{gw.url}/api/livy/batches/{batch_id}", args.seconds, args.concurrency)
            )
            health_rps, health_lat, health_err = asyncio.run(
                hammer(f"{gw.url}/health", args.seconds, args.concurrency)
            )
        finally:
            gw.stop()
    bare = [bare_spark_submit_to_running(env) for _ in range(args.startup_runs)]

    print(f"concurrency {args.concurrency}, {args.seconds:.0f} s per endpoint, SQLite, one gateway process")
    print(
        f"GET /api/livy/batches/{{id}}: {batch_rps:8.1f} req/s  p50 {percentile(batch_lat, 0.5):6.1f} ms"
        f"  p99 {percentile(batch_lat, 0.99):6.1f} ms  errors {batch_err}"
    )
    print(
        f"GET /health:                {health_rps:8.1f} req/s  p50 {percentile(health_lat, 0.5):6.1f} ms"
        f"  p99 {percentile(health_lat, 0.99):6.1f} ms  errors {health_err}"
    )
    print(f"ratio batch/health: {batch_rps / health_rps:.2f}")
    print(
        f"POST /batches -> running: median {statistics.median(post_to_running):.2f} s "
        f"(runs: {', '.join(f'{v:.2f}' for v in post_to_running)})"
    )
    print(
        f"bare spark-submit -> started: median {statistics.median(bare):.2f} s "
        f"(runs: {', '.join(f'{v:.2f}' for v in bare)})"
    )
    print(
        f"gateway overhead to running: {statistics.median(post_to_running) - statistics.median(bare):+.2f} s"
    )


if __name__ == "__main__":
    main()
