"""Throughput and latency of N gateway replicas sharing one PostgreSQL, under M concurrent clients.

Starts N `spark-gateway serve` processes against a fresh PostgreSQL database, seeds some batches, then
runs M clients for T seconds. Each request goes to a random replica and is, by weight, a GET of one
batch, a list page, or a create. Creates go to a local cluster whose `spark-submit` is a stand-in that
exits at once, so the lease holder's admission runs for real but no Spark job competes for the CPU.
Prints requests/s, p50/p99 latency and errors per operation and in total. Clients run in this process
on the same machine as the replicas, so the figures are a floor, not a ceiling.

Usage: python bench/replicas_bench.py [--replicas 3] [--clients 24] [--seconds 20]
           [--mix get=60,list=20,create=20] [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.conftest import PG_URL, create_pg_database, drop_pg_database  # noqa: E402
from tests.e2e.conftest import GatewayProcess, free_port  # noqa: E402

NO_OP_SUBMIT = "#!/bin/sh\necho 'stand-in spark-submit: nothing to run'\n"


@dataclass
class OpStats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # transport errors by kind


def start_replicas(n: int, db_url: str, workdir: Path) -> list[GatewayProcess]:
    submit = workdir / "spark-submit"
    submit.write_text(NO_OP_SUBMIT)
    submit.chmod(0o755)
    config = {
        "dataDir": str(workdir / "data"),
        "database": {"url": db_url, "poolSize": 10},
        "clusters": [
            {
                "name": "local",
                "id": "local",
                "type": "local",
                "namespaces": [{"name": "default", "id": "dflt"}],
                "local": {"sparkSubmit": str(submit), "maxConcurrentJobs": 2},
            }
        ],
    }
    conf = workdir / "gateway.yaml"
    conf.write_text(yaml.safe_dump(config))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    replicas = []
    for i in range(n):
        gw = GatewayProcess(conf, free_port(), workdir / f"gateway-{i}.log", env)
        replicas.append(gw.start())
    return replicas


def body() -> dict[str, object]:
    return {"file": str(REPO / "examples" / "pi.py"), "args": ["1"], "name": None}


async def seed(url: str, count: int) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        ids = []
        for _ in range(count):
            response = await client.post("/api/livy/batches", json=body())
            response.raise_for_status()
            ids.append(response.json()["id"])
        return ids


async def drive(
    urls: list[str], ids: list[int], clients: int, seconds: float, mix: dict[str, int]
) -> tuple[dict[str, OpStats], float]:
    stats = {op: OpStats() for op in mix}
    ops, weights = list(mix), list(mix.values())
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients * len(urls), max_keepalive_connections=clients * len(urls))

    async def client(http: dict[str, httpx.AsyncClient]) -> None:
        while time.monotonic() < deadline:
            op = random.choices(ops, weights)[0]
            conn = http[random.choice(urls)]
            start = time.perf_counter()
            try:
                if op == "get":
                    response = await conn.get(f"/api/livy/batches/{random.choice(ids)}")
                elif op == "list":
                    response = await conn.get("/api/livy/batches", params={"from": 0, "size": 20})
                else:
                    response = await conn.post("/api/livy/batches", json=body())
            except httpx.HTTPError as exc:
                stats[op].errors += 1
                kind = type(exc).__name__
                stats[op].failures[kind] = stats[op].failures.get(kind, 0) + 1
                continue
            elapsed = time.perf_counter() - start
            entry = stats[op]
            entry.statuses[response.status_code] = entry.statuses.get(response.status_code, 0) + 1
            if response.status_code >= 400:
                entry.errors += 1
            else:
                entry.latencies.append(elapsed)
                if op == "create":
                    ids.append(response.json()["id"])

    http = {url: httpx.AsyncClient(base_url=url, timeout=60, limits=limits) for url in urls}
    started = time.monotonic()
    try:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    finally:
        for conn in http.values():
            await conn.aclose()
    return stats, time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(stats: dict[str, OpStats], elapsed: float, replicas: int, clients: int) -> None:
    print(f"\n{replicas} replicas, {clients} clients, {elapsed:.1f} s, one PostgreSQL")
    print(f"{'op':<8}{'ok':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    everything: list[float] = []
    errors = 0
    for op, entry in stats.items():
        everything += entry.latencies
        errors += entry.errors
        p50, p99 = percentile(entry.latencies, 0.5) * 1000, percentile(entry.latencies, 0.99) * 1000
        rate = len(entry.latencies) / elapsed
        print(f"{op:<8}{len(entry.latencies):>8}{rate:>10.1f}{p50:>10.1f}{p99:>10.1f}{entry.errors:>8}")
        odd = {code: n for code, n in entry.statuses.items() if code >= 400}
        if odd:
            print(f"{'':<8}error statuses: {odd}")
        if entry.failures:
            print(f"{'':<8}transport errors: {entry.failures}")
    print(
        f"{'total':<8}{len(everything):>8}{len(everything) / elapsed:>10.1f}"
        f"{percentile(everything, 0.5) * 1000:>10.1f}{percentile(everything, 0.99) * 1000:>10.1f}{errors:>8}"
    )
    if everything:
        print(f"mean latency {statistics.mean(everything) * 1000:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--mix", default="get=60,list=20,create=20")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--seed", type=int, default=50, help="batches created before the run")
    args = parser.parse_args()
    mix = {k: int(v) for k, v in (part.split("=") for part in args.mix.split(","))}
    unknown = set(mix) - {"get", "list", "create"}
    if unknown:
        parser.error(f"unknown operations in --mix: {sorted(unknown)}")

    db_url = await create_pg_database(args.pg_url)
    replicas: list[GatewayProcess] = []
    try:
        with tempfile.TemporaryDirectory(prefix="replicas-bench-") as tmp:
            replicas = start_replicas(args.replicas, db_url, Path(tmp))
            ids = await seed(replicas[0].url, args.seed)
            stats, elapsed = await drive([gw.url for gw in replicas], ids, args.clients, args.seconds, mix)
            report(stats, elapsed, args.replicas, args.clients)
            for gw in replicas:
                gw.stop()
    finally:
        for gw in replicas:
            gw.stop()
        await drop_pg_database(db_url)


if __name__ == "__main__":
    asyncio.run(main())
