"""A randomized fault harness: Livy submissions against gateway replicas while faults hit at random.

Why this exists: tests that choose their own faults prove only the windows someone thought of. Here a
seeded random schedule submits batches (each with an Idempotency-Key, retried on another replica when a
request fails, as a careful client does) to two gateway replicas sharing one PostgreSQL database with a
local cluster whose `spark-submit` is a stand-in script, and injects one fault per round at a random
moment: `kill -9` of a replica that does not hold the supervisor lease, of the lease holder, or of a
running job's runner; a cut of every replica's PostgreSQL connections; or nothing (and, only when asked
for with `--faults`, a restart of the machine's PostgreSQL, which every user of it notices). After the
round every acknowledged batch must end, and the invariants are checked (see `check_round`). A failure
prints its seed, and `--seed S --rounds 1` replays it.

Run it: `PYTHONPATH=src .venv/bin/python -m tests.chaos.harness --rounds 200 --seed 1` (prints figures);
a short form with fixed seeds runs in `make test` (tests/chaos/test_chaos.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import yaml

from tests.e2e.local_replicas import TERMINAL, fake_spark_submit
from tests.e2e.processes import GatewayProcess, env_with_this_source, free_port

PG_BASE = os.environ.get("CHAOS_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
FAULTS = ("none", "kill_replica", "kill_holder", "kill_runner", "cut_database")
# Restarts the machine's PostgreSQL for everyone using it: only when asked for (`--faults ...,restart_postgres`).
OPT_IN_FAULTS = ("restart_postgres",)
LEASE = {"ttlSeconds": 2.0, "renewIntervalSeconds": 0.4}
TERMINAL_TIMEOUT = 60.0


@dataclass
class Batch:
    id: int
    key: str
    seconds: float


@dataclass
class Figures:
    rounds: int = 0
    submissions: int = 0
    acknowledged: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    recovery: list[float] = field(default_factory=list)
    seen_ids: set[int] = field(default_factory=set)
    killed_jobs: set[str] = field(default_factory=set)  # gateway ids whose runner was killed

    def report(self) -> str:
        rec = sorted(self.recovery)
        p50 = statistics.median(rec) if rec else 0.0
        p99 = rec[min(len(rec) - 1, int(len(rec) * 0.99))] if rec else 0.0
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items()))
        return (
            f"rounds={self.rounds} submissions={self.submissions} acknowledged={self.acknowledged} "
            f"faults: {kinds} violations={len(self.violations)} "
            f"recovery p50={p50:.2f}s p99={p99:.2f}s"
        )


class Cluster:
    """Two gateway replicas on one fresh PostgreSQL database, in a scratch directory."""

    def __init__(self, root: Path, db_url: str) -> None:
        self.root, self.db_url = root, db_url
        local = {
            "sparkSubmit": fake_spark_submit(root),
            "allowedDirs": [str(root)],
            "pollIntervalSeconds": 0.2,
            "maxConcurrentJobs": 8,
        }
        config = {
            "dataDir": str(root / "data"),
            "database": {"url": db_url},
            "lease": LEASE,
            "clusters": [
                {
                    "name": "local",
                    "id": "local",
                    "type": "local",
                    "namespaces": [{"name": "default", "id": "dflt"}],
                    "local": local,
                }
            ],
        }
        self.conf = root / "gateway.yaml"
        self.conf.write_text(yaml.safe_dump(config))
        env = env_with_this_source(dict(os.environ, SPARK_LOCAL_IP="127.0.0.1"))
        self.replicas = [
            GatewayProcess(self.conf, free_port(), root / f"gateway-{i}.log", env) for i in range(2)
        ]

    def start(self) -> None:
        for gw in self.replicas:
            gw.start()

    def stop(self) -> None:
        for gw in self.replicas:
            gw.stop(signal.SIGTERM, timeout=15)

    def alive(self) -> list[GatewayProcess]:
        return [gw for gw in self.replicas if gw.proc is not None and gw.proc.poll() is None]

    async def holder(self) -> GatewayProcess | None:
        conn = await pg_connect(self.db_url)
        try:
            row = await conn.fetchrow(
                "SELECT holder FROM leases WHERE name = 'supervisor:local' AND expires_at > now()"
            )
        finally:
            await conn.close()
        if row is None:
            return None
        pid = int(row["holder"].split(":")[-2])
        return next((gw for gw in self.alive() if gw.proc is not None and gw.proc.pid == pid), None)

    async def restart_dead(self) -> None:
        for gw in self.replicas:
            if gw.proc is not None and gw.proc.poll() is not None:
                await asyncio.to_thread(gw.start)


async def submit(cluster: Cluster, rng: random.Random, figures: Figures, seconds: float) -> Batch | None:
    """One batch as a careful client sends it: same Idempotency-Key on every replica until one answers."""
    key = uuid.uuid4().hex
    body = {"file": str(cluster.root / "job.py"), "args": [f"{seconds:.2f}"]}
    figures.submissions += 1
    order = list(cluster.replicas)
    rng.shuffle(order)
    for _attempt in range(6):
        for gw in order:
            try:
                async with httpx.AsyncClient(base_url=gw.url, timeout=10) as client:
                    resp = await client.post("/api/livy/batches", json=body, headers={"Idempotency-Key": key})
            except httpx.HTTPError:
                continue
            if resp.status_code >= 500 and resp.status_code != 503:
                figures.violations.append(f"HTTP {resp.status_code} on submit: {resp.text[:200]}")
                return None
            if resp.status_code == 201 or resp.status_code == 200:
                figures.acknowledged += 1
                return Batch(int(resp.json()["id"]), key, seconds)
        await asyncio.sleep(0.5)
    return None


async def inject(cluster: Cluster, kind: str, rng: random.Random, figures: Figures) -> None:
    if kind == "kill_replica" or kind == "kill_holder":
        holder = await cluster.holder()
        pool = [gw for gw in cluster.alive() if (gw is holder) == (kind == "kill_holder")]
        if pool:
            victim = rng.choice(pool)
            assert victim.proc is not None
            os.kill(victim.proc.pid, signal.SIGKILL)
            await asyncio.to_thread(victim.proc.wait, 10)
    elif kind == "kill_runner":
        conn = await pg_connect(cluster.db_url)
        try:
            rows = await conn.fetch(
                "SELECT gateway_id, backend_ref FROM applications WHERE state IN ('SUBMITTED', 'RUNNING')"
            )
        finally:
            await conn.close()
        jobs = sorted(
            (r["gateway_id"], int(r["backend_ref"]["pid"]))
            for r in rows
            if isinstance(r["backend_ref"], dict) and "pid" in r["backend_ref"]
        )
        if jobs:
            gateway_id, pid = rng.choice(jobs)
            figures.killed_jobs.add(gateway_id)  # its end is the runner's death, whatever the driver did
            with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
                os.kill(pid, signal.SIGKILL)
    elif kind == "restart_postgres":
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
        proc = await asyncio.create_subprocess_exec(*command)
        await proc.wait()
    elif kind == "cut_database":
        conn = await pg_connect(cluster.db_url)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()


async def pg_connect(url: str, patience: float = 60.0) -> asyncpg.Connection:
    """The harness's own connection (JSON decoded), retried while PostgreSQL restarts."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            break
        except (OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    await conn.set_type_codec("jsonb", encoder=str, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=str, decoder=json.loads, schema="pg_catalog")
    return conn


async def full_service(cluster: Cluster, started: float) -> float:
    """Seconds from `started` until every replica answers and a live replica holds the lease."""
    deadline = time.monotonic() + 60
    await cluster.restart_dead()
    while time.monotonic() < deadline:
        if len(cluster.alive()) == len(cluster.replicas) and await cluster.holder() is not None:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError("service did not come back within 60s")


async def final_states(cluster: Cluster, batches: list[Batch], figures: Figures) -> dict[int, str]:
    states: dict[int, str] = {}
    deadline = time.monotonic() + TERMINAL_TIMEOUT
    while time.monotonic() < deadline and any(states.get(b.id) not in TERMINAL for b in batches):
        gw = random.choice(cluster.alive())
        async with httpx.AsyncClient(base_url=gw.url, timeout=10) as client:
            for b in batches:
                if states.get(b.id) in TERMINAL:
                    continue
                try:
                    resp = await client.get(f"/api/livy/batches/{b.id}/state")
                except httpx.HTTPError:
                    break
                if resp.status_code >= 500 and resp.status_code != 503:
                    figures.violations.append(f"HTTP {resp.status_code} reading batch {b.id}")
                elif resp.status_code == 200:
                    states[b.id] = resp.json()["state"]
        await asyncio.sleep(0.3)
    return states


def job_processes(cluster: Cluster) -> list[int]:
    """Stand-in spark-submit processes still running (their command line names the script)."""
    script = str(cluster.root / "fake-spark-submit")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if script in cmdline:
            found.append(int(entry.name))
    return found


async def gone_within(find: Callable[[], list[int]], seconds: float) -> list[int]:
    """What `find()` still returns after up to `seconds` of polling (processes exit asynchronously)."""
    deadline = time.monotonic() + seconds
    left: list[int] = find()
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        left = find()
    return left


async def check_round(cluster: Cluster, batches: list[Batch], figures: Figures, seed: int, kind: str) -> None:
    """The invariants, after every acknowledged batch of the round has ended (or the wait timed out)."""

    def violation(message: str) -> None:
        figures.violations.append(f"seed {seed} ({kind}): {message}")

    states = await final_states(cluster, batches, figures)
    for b in batches:
        if states.get(b.id) not in TERMINAL:
            violation(f"batch {b.id} never ended (state {states.get(b.id)})")
        if b.id in figures.seen_ids:
            violation(f"batch id {b.id} acknowledged twice")
        figures.seen_ids.add(b.id)
    conn = await pg_connect(cluster.db_url)
    try:
        for b in batches:
            rows = await conn.fetch(
                "SELECT a.gateway_id, a.state, a.deleted_at FROM livy_batches l "
                "JOIN applications a ON a.gateway_id = l.gateway_id WHERE l.batch_id = $1",
                b.id,
            )
            live = [r for r in rows if r["deleted_at"] is None]
            if len(live) != 1:
                violation(f"batch {b.id} is stored {len(live)} times")
                continue
            gateway_id, state = live[0]["gateway_id"], live[0]["state"]
            keyed = await conn.fetchval(
                "SELECT count(*) FROM applications WHERE idempotency_key LIKE '%' || $1 AND deleted_at IS NULL",
                b.key,
            )
            if keyed != 1:
                violation(f"Idempotency-Key of batch {b.id} names {keyed} applications")
            log_file = cluster.root / "data" / "jobs" / gateway_id / "driver.log"
            ran = log_file.read_text(errors="replace") if log_file.exists() else ""
            if ran.count("fake driver starting") > 1:
                violation(f"batch {b.id} ({gateway_id}) ran {ran.count('fake driver starting')} times")
            finished = "fake driver done" in ran
            if (state == "COMPLETED") != finished and gateway_id not in figures.killed_jobs:
                violation(f"batch {b.id} ({gateway_id}) is {state} but its driver finished={finished}")
            stored = [
                r["line"]
                for r in await conn.fetch(
                    "SELECT line FROM application_logs WHERE gateway_id = $1 ORDER BY seq", gateway_id
                )
            ]
            driver_lines = [line for line in stored if line.startswith("fake driver")]
            if len(driver_lines) != len(set(driver_lines)):
                violation(f"batch {b.id} ({gateway_id}) has duplicated log lines: {driver_lines}")
            expected = [line for line in ran.splitlines() if line.startswith("fake driver")]
            if driver_lines != expected:
                violation(f"batch {b.id} ({gateway_id}) stored log {driver_lines} != driver's {expected}")
        known = {r["gateway_id"] for r in await conn.fetch("SELECT gateway_id FROM applications")}
    finally:
        await conn.close()
    jobs_dir = cluster.root / "data" / "jobs"
    for job in jobs_dir.iterdir() if jobs_dir.exists() else []:
        if job.name not in known:
            violation(f"job directory {job.name} is unknown to the database (an orphan)")
    left = await gone_within(lambda: job_processes(cluster), 5.0)
    if left:
        violation(f"{len(left)} job processes left running after every batch ended: {left}")


async def one_round(cluster: Cluster, seed: int, figures: Figures, kinds: tuple[str, ...]) -> None:
    rng = random.Random(seed)
    kind = rng.choice(kinds)
    count = rng.randint(2, 5)
    fault_at = rng.uniform(0.0, 1.5)
    batches: list[Batch] = []

    async def submissions() -> None:
        for _ in range(count):
            batch = await submit(cluster, rng, figures, rng.uniform(0.2, 1.5))
            if batch is not None:
                batches.append(batch)
            await asyncio.sleep(rng.uniform(0.0, 0.4))

    async def fault() -> None:
        await asyncio.sleep(fault_at)
        at = time.monotonic()
        await inject(cluster, kind, rng, figures)
        figures.faults[kind] += 1
        if kind != "none":
            figures.recovery.append(await full_service(cluster, at))

    await asyncio.gather(submissions(), fault())
    await check_round(cluster, batches, figures, seed, kind)
    figures.rounds += 1


async def run(
    seeds: list[int], kinds: tuple[str, ...] = FAULTS, root: Path | None = None, *, progress: bool = False
) -> Figures:
    from tests.conftest import create_pg_database, drop_pg_database

    figures = Figures()
    db_url = await create_pg_database(PG_BASE)
    with tempfile.TemporaryDirectory(prefix="chaos-", dir=root) as scratch:
        cluster = Cluster(Path(scratch), db_url)
        (cluster.root / "job.py").write_text("")
        await asyncio.to_thread(cluster.start)
        try:
            for seed in seeds:
                before = len(figures.violations)
                await one_round(cluster, seed, figures, kinds)
                for message in figures.violations[before:]:
                    print(f"VIOLATION (replay: --seed {seed} --rounds 1): {message}", flush=True)
                if progress:
                    print(f"round {figures.rounds} seed {seed}: {figures.report()}", flush=True)
        finally:
            await asyncio.to_thread(cluster.stop)
            await drop_pg_database(db_url)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="first round's seed (default: random)")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help=f"kinds to draw from: {','.join(FAULTS + OPT_IN_FAULTS)}"
    )
    args = parser.parse_args(argv)
    first = args.seed if args.seed is not None else random.randrange(1_000_000)
    print(f"chaos: seeds {first}..{first + args.rounds - 1}", flush=True)
    kinds = tuple(k for k in args.faults.split(",") if k)
    unknown = set(kinds) - set(FAULTS) - set(OPT_IN_FAULTS)
    if unknown:
        parser.error(f"unknown fault kinds: {sorted(unknown)}")
    figures = asyncio.run(run(list(range(first, first + args.rounds)), kinds, progress=True))
    print(figures.report(), flush=True)
    return 1 if figures.violations else 0


if __name__ == "__main__":
    sys.exit(main())
