"""A randomized fault harness: Livy and v1 submissions to a local and a Kubernetes cluster under faults.

Why this exists: tests that choose their own faults prove only the windows someone thought of. Here a
seeded random schedule submits applications — Livy batches and v1 SparkApplications, to a local cluster
(a stand-in `spark-submit`) and to a Kubernetes cluster (the fake API server and its operator, with a
real SparkManager process) — to two gateway replicas sharing one PostgreSQL database, each with an
Idempotency-Key and retried on another replica when a request fails, as a careful client does. One fault
per round hits at a random moment (faults.py lists them); after the round every acknowledged submission
must end and the invariants must hold (invariants.py). A failure prints its seed; `--seed S --rounds 1`
replays that round's schedule (timing still varies).

Run it: `PYTHONPATH=src .venv/bin/python -m tests.chaos.harness --rounds 200 --seed 1` (prints figures);
a short form with fixed seeds runs in `make test` (tests/chaos/test_chaos.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.chaos import cluster_k8s, cluster_local
from tests.chaos.faults import FAULTS, OPT_IN_FAULTS, inject
from tests.chaos.invariants import Figures, Submission, check_round
from tests.chaos.system import RECOVERY_TIMEOUT, System

PG_BASE = os.environ.get("CHAOS_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SUBMIT_PATIENCE = 120.0  # how long a careful client keeps retrying one submission


def request_for(api: str, cluster: str, root: Path, seconds: float, outcome: str) -> tuple[str, dict, dict]:
    """(path, body, headers) of one submission; Kubernetes drivers also say how they end."""
    kube = cluster == cluster_k8s.NAME
    file = "local:///opt/job.py" if kube else str(root / "job.py")
    args = [f"{seconds:.2f}", outcome] if kube else [f"{seconds:.2f}"]
    if api == "livy":
        headers = {"X-Spark-Gateway-Livy-Namespace": cluster_k8s.NAMESPACE} if kube else {}
        return "/api/livy/batches", {"file": file, "args": args}, headers
    namespace = cluster_k8s.NAMESPACE if kube else cluster_local.NAMESPACE
    spec = {
        "type": "Python",
        "sparkVersion": "4.0.0",
        "mainApplicationFile": file,
        "arguments": args,
        "driver": {"memory": "512m"},
        "executor": {"instances": 1},
    }
    return "/api/v1/applications", {"metadata": {"namespace": namespace}, "spec": spec}, {}


async def submit(system: System, rng: random.Random, figures: Figures) -> Submission | None:
    """One submission as a careful client sends it: the same Idempotency-Key on every replica until one
    answers (503 and connection errors are retried; any other 5xx is a violation)."""
    api, cluster = rng.choice(["livy", "v1"]), rng.choice([cluster_local.NAME, cluster_k8s.NAME])
    outcome = "fail" if rng.random() < 0.25 else "success"
    path, body, headers = request_for(api, cluster, system.root, rng.uniform(0.2, 1.5), outcome)
    key = uuid.uuid4().hex
    headers["Idempotency-Key"] = key
    figures.submissions[f"{api}/{cluster}"] += 1
    order = list(system.replicas)
    rng.shuffle(order)
    deadline = time.monotonic() + SUBMIT_PATIENCE
    while time.monotonic() < deadline:
        for gw in order:
            try:
                async with httpx.AsyncClient(base_url=gw.url, timeout=10) as client:
                    resp = await client.post(path, json=body, headers=headers)
            except httpx.HTTPError:
                continue
            if resp.status_code >= 500 and resp.status_code != 503:
                figures.violations.append(
                    f"HTTP {resp.status_code} on {api} submit to {cluster}: {resp.text[:200]}"
                )
                return None
            if resp.status_code in (200, 201):
                figures.acknowledged += 1
                answer: dict[str, Any] = resp.json()
                if api == "livy":
                    return Submission(api, cluster, key, answer["appInfo"]["GatewayId"], int(answer["id"]))
                return Submission(api, cluster, key, answer["gatewayId"], None)
            if resp.status_code != 503:
                figures.violations.append(
                    f"HTTP {resp.status_code} on {api} submit to {cluster}: {resp.text[:200]}"
                )
                return None
        await asyncio.sleep(0.5)
    return None


async def one_round(
    system: System, seed: int, figures: Figures, kinds: Sequence[str], forced: str | None
) -> str:
    rng = random.Random(seed)
    kind = rng.choice(kinds)
    kind = forced or kind
    count = rng.randint(2, 5)
    fault_at = rng.uniform(0.0, 1.5)
    fault_rng = random.Random(f"{seed}-fault")  # its own stream: the draws do not depend on timing
    subs: list[Submission] = []

    async def submissions() -> None:
        for _ in range(count):
            sub = await submit(system, rng, figures)
            if sub is not None:
                subs.append(sub)
            await asyncio.sleep(rng.uniform(0.0, 0.4))

    async def fault() -> None:
        await asyncio.sleep(fault_at)
        injected = await inject(system, kind, fault_rng)
        if injected.killed_job is not None:
            figures.killed_jobs.add(injected.killed_job)  # its end is the runner's death
        figures.faults[kind] += 1
        if kind == "none":
            return
        recovery = await system.full_service(
            injected.ended, since_request=injected.since_request, relisted=injected.relisted
        )
        if recovery is None:
            figures.violations.append(
                f"seed {seed} ({kind}): service did not come back within {RECOVERY_TIMEOUT:.0f} s"
            )
        else:
            figures.recovery.append(recovery)

    await asyncio.gather(submissions(), fault())
    await check_round(system, subs, figures, seed, kind)
    figures.rounds += 1
    return kind


async def run(
    seeds: list[int],
    kinds: Sequence[str] = FAULTS,
    root: Path | None = None,
    *,
    forced: Sequence[str] | None = None,
    progress: bool = False,
    minutes: float | None = None,
) -> Figures:
    """Rounds with these seeds; `forced[i]`, when given, is round i's fault kind instead of a draw.
    With `minutes`, no round starts after that many minutes (the figures say how many ran)."""
    from tests.conftest import create_pg_database, drop_pg_database

    figures = Figures()
    db_url = await create_pg_database(PG_BASE)
    with tempfile.TemporaryDirectory(prefix="chaos-", dir=root) as scratch:
        system = System(Path(scratch), db_url)
        try:
            await system.start()
            stop_at = time.monotonic() + minutes * 60 if minutes else None
            for i, seed in enumerate(seeds):
                if stop_at is not None and time.monotonic() > stop_at:
                    print(f"chaos: {minutes} minutes are up after {figures.rounds} rounds", flush=True)
                    break
                before = len(figures.violations)
                kind = await one_round(system, seed, figures, kinds, forced[i] if forced else None)
                for message in figures.violations[before:]:
                    print(f"VIOLATION (replay: --seed {seed} --rounds 1): {message}", flush=True)
                if progress:
                    print(f"round {figures.rounds} seed {seed} {kind}: {figures.report()}", flush=True)
        finally:
            await system.stop()
            await drop_pg_database(db_url)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="first round's seed (default: random)")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help=f"kinds to draw from: {','.join(FAULTS + OPT_IN_FAULTS)}"
    )
    parser.add_argument("--minutes", type=float, default=None, help="start no round after this many minutes")
    args = parser.parse_args(argv)
    first = args.seed if args.seed is not None else random.randrange(1_000_000)
    print(f"chaos: seeds {first}..{first + args.rounds - 1}", flush=True)
    kinds = tuple(k for k in args.faults.split(",") if k)
    unknown = set(kinds) - set(FAULTS) - set(OPT_IN_FAULTS)
    if unknown:
        parser.error(f"unknown fault kinds: {sorted(unknown)}")
    figures = asyncio.run(
        run(list(range(first, first + args.rounds)), kinds, progress=True, minutes=args.minutes)
    )
    print(figures.report(), flush=True)
    return 1 if figures.violations else 0


if __name__ == "__main__":
    sys.exit(main())
