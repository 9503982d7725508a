"""What must hold after every round, whatever the fault, and the figures the harness prints.

For every acknowledged submission (Livy or v1, local or Kubernetes): it ends (through the API, never a
500 on the way), it is stored exactly once and its Idempotency-Key names exactly one application, a Livy
batch id is never handed out twice; a local job ran at most once and ended as its driver did
(cluster_local.check); a Kubernetes application exists on the API server and its stored terminal state is
the one the operator wrote there, its stored driver log is the pod's. Across the system: no job directory,
job process or SparkApplication unknown to the database (no orphans).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.chaos import cluster_k8s, cluster_local
from tests.chaos.system import System, pg_connect
from tests.e2e.local_replicas import TERMINAL as LIVY_TERMINAL

TERMINAL_TIMEOUT = 120.0  # generous: the machine these run on is often loaded
V1_TERMINAL = {"COMPLETED", "FAILED"}


@dataclass
class Submission:
    api: str  # "livy" or "v1"
    cluster: str  # cluster_local.NAME or cluster_k8s.NAME
    key: str
    gateway_id: str
    batch_id: int | None  # Livy only

    @property
    def state_path(self) -> str:
        if self.api == "livy":
            return f"/api/livy/batches/{self.batch_id}/state"
        return f"/api/v1/applications/{self.gateway_id}/status"

    def terminal(self, body: dict) -> bool:
        if self.api == "livy":
            return body.get("state") in LIVY_TERMINAL
        return body.get("applicationState", {}).get("state") in V1_TERMINAL


@dataclass
class Figures:
    rounds: int = 0
    submissions: Counter[str] = field(default_factory=Counter)  # by "api/cluster"
    acknowledged: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    recovery: list[float] = field(default_factory=list)
    seen_batch_ids: set[int] = field(default_factory=set)
    killed_jobs: set[str] = field(default_factory=set)  # gateway ids whose runner was killed

    def report(self) -> str:
        rec = sorted(self.recovery)
        p50 = statistics.median(rec) if rec else 0.0
        p99 = rec[min(len(rec) - 1, int(len(rec) * 0.99))] if rec else 0.0
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items()))
        by_kind = ", ".join(f"{k}={v}" for k, v in sorted(self.submissions.items()))
        return (
            f"rounds={self.rounds} submissions={self.submissions.total()} ({by_kind}) "
            f"acknowledged={self.acknowledged} faults: {kinds} violations={len(self.violations)} "
            f"recovery p50={p50:.2f}s p99={p99:.2f}s"
        )


async def final_states(system: System, subs: list[Submission], figures: Figures) -> set[str]:
    """Polls every submission through the API until it ends; returns the gateway ids that ended."""
    ended: set[str] = set()
    deadline = time.monotonic() + TERMINAL_TIMEOUT
    while time.monotonic() < deadline and any(s.gateway_id not in ended for s in subs):
        async with httpx.AsyncClient(base_url=random.choice(system.alive()).url, timeout=10) as client:
            for s in subs:
                if s.gateway_id in ended:
                    continue
                try:
                    resp = await client.get(s.state_path)
                except httpx.HTTPError:
                    break
                if resp.status_code >= 500 and resp.status_code != 503:
                    figures.violations.append(
                        f"HTTP {resp.status_code} reading {s.state_path}: {resp.text[:200]}"
                    )
                elif resp.status_code == 200 and s.terminal(resp.json()):
                    ended.add(s.gateway_id)
        await asyncio.sleep(0.3)
    return ended


async def check_round(system: System, subs: list[Submission], figures: Figures, seed: int, kind: str) -> None:
    """The invariants, after every acknowledged submission of the round has ended (or the wait timed out)."""

    def violation(message: str) -> None:
        figures.violations.append(f"seed {seed} ({kind}): {message}")

    ended = await final_states(system, subs, figures)
    kube_apps = await system.kube.apps()
    conn = await pg_connect(system.db_url)
    try:
        for s in subs:
            name = f"{s.api} {s.cluster} {s.gateway_id}" + (
                f" (batch {s.batch_id})" if s.batch_id is not None else ""
            )
            if s.gateway_id not in ended:
                violation(f"{name} never ended")
            if s.batch_id is not None:
                if s.batch_id in figures.seen_batch_ids:
                    violation(f"batch id {s.batch_id} acknowledged twice")
                figures.seen_batch_ids.add(s.batch_id)
                stored = await conn.fetchval(
                    "SELECT gateway_id FROM livy_batches WHERE batch_id = $1", s.batch_id
                )
                if stored != s.gateway_id:
                    violation(f"{name}: batch id maps to {stored}")
            keyed = await conn.fetch(
                "SELECT gateway_id, state FROM applications WHERE idempotency_key LIKE '%' || $1 AND deleted_at IS NULL",
                s.key,
            )
            if [r["gateway_id"] for r in keyed] != [s.gateway_id]:
                violation(f"{name}: its Idempotency-Key names {[r['gateway_id'] for r in keyed]}")
                continue
            state = keyed[0]["state"]
            if s.cluster == cluster_local.NAME:
                problems = await cluster_local.check(
                    conn, system.root, s.gateway_id, state, s.gateway_id in figures.killed_jobs
                )
            else:
                problems = await check_kube(system, conn, s.gateway_id, state, kube_apps)
            for problem in problems:
                violation(f"{name} {problem}")
        rows = await conn.fetch("SELECT gateway_id, deleted_at FROM applications")
    finally:
        await conn.close()
    known = {r["gateway_id"] for r in rows}
    live = {r["gateway_id"] for r in rows if r["deleted_at"] is None}
    for directory in cluster_local.orphan_directories(system.root, known):
        violation(f"job directory {directory} is unknown to the database (an orphan)")
    for app in sorted(set(kube_apps) - live):
        what = "deleted in" if app in known else "unknown to"
        violation(f"SparkApplication {app} is {what} the database (an orphan)")
    left = await cluster_local.gone_within(lambda: cluster_local.job_processes(system.root), 5.0)
    if left:
        violation(f"{len(left)} job processes left running after every batch ended: {left}")


async def check_kube(system: System, conn, gateway_id: str, state: str, apps: dict[str, dict]) -> list[str]:
    """One Kubernetes application's invariants: the API server's terminal state, and its driver log."""
    app = apps.get(gateway_id)
    if app is None:
        return ["is not on the API server"]
    status = app.get("status") or {}
    real = status.get("applicationState", {}).get("state")
    problems = []
    if state != real:
        problems.append(f"is {state} in the database but {real} on the API server")
    pod = status.get("driverInfo", {}).get("podName")
    if pod:
        lines = await system.kube.logs(cluster_k8s.NAMESPACE, pod)
        rows = await conn.fetch(
            "SELECT line FROM application_logs WHERE gateway_id = $1 ORDER BY seq", gateway_id
        )
        stored = [r["line"] for r in rows]
        if stored != lines:
            problems.append(f"stored log {stored} != the pod's {lines}")
    return problems
