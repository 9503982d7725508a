"""Helpers for tests that run several gateway replicas on one PostgreSQL database (local clusters).

Jobs use a stand-in `spark-submit` (a shell script that prints and sleeps), so the leader's admission,
detached jobs, re-attachment and takeover are real while the machine's two cores stay free. The lease is
read straight from PostgreSQL, as an operator would.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.e2e.processes import GatewayProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TERMINAL = {"success", "error", "dead", "killed"}

FAKE_SPARK_SUBMIT = """#!/bin/sh
# Stands in for spark-submit: acts like a short driver (its last argument is how long it runs; an
# argument `gate=PATH` holds it until PATH exists, at most 120 s: a test's signal to go on).
gate=
for arg; do last="$arg"; case "$arg" in gate=*) gate="${arg#gate=}";; esac; done
echo "fake driver starting: $*"
n=0
while [ -n "$gate" ] && [ ! -e "$gate" ] && [ "$n" -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
sleep "${last:-1}"
echo "fake driver done after ${last}s"
"""


def fake_spark_submit(directory: Path) -> str:
    path = directory / "fake-spark-submit"
    path.write_text(FAKE_SPARK_SUBMIT)
    path.chmod(0o755)
    return str(path)


def replica_config(
    db_url: str, tmp_path: Path, *, lease: dict[str, float] | None = None, **local: Any
) -> dict:
    local_conf = {"sparkSubmit": fake_spark_submit(tmp_path), "pollIntervalSeconds": 0.2, **local}
    config: dict[str, Any] = {
        "database": {"url": db_url},
        "clusters": [
            {
                "name": "local",
                "id": "local",
                "type": "local",
                "namespaces": [{"name": "default", "id": "dflt"}],
                "local": local_conf,
            }
        ],
    }
    if lease:
        config["lease"] = lease
    return config


def batch_body(seconds: float = 0.5, **extra: Any) -> dict[str, Any]:
    return {"file": str(EXAMPLES / "pi.py"), "args": [str(seconds)], **extra}


async def lease_holder(db_url: str, name: str = "supervisor:local") -> tuple[str, int, bool] | None:
    """(holder, fencing token, unexpired) of a lease, read straight from PostgreSQL."""
    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        row = await conn.fetchrow(
            "SELECT holder, fencing_token, expires_at > now() AS live FROM leases WHERE name = $1", name
        )
    finally:
        await conn.close()
    return None if row is None else (row["holder"], row["fencing_token"], row["live"])


def holder_pid(holder: str) -> int:
    return int(holder.split(":")[-2])


async def wait_for_holder(
    db_url: str, gateways: list[GatewayProcess], timeout: float = 30.0
) -> GatewayProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await lease_holder(db_url)
        if state is not None and state[2]:
            for gw in gateways:
                if gw.proc is not None and gw.proc.pid == holder_pid(state[0]):
                    return gw
        await asyncio.sleep(0.1)
    raise AssertionError("no gateway holds the supervisor lease")


async def wait_terminal(client: httpx.AsyncClient, ids: list[int], timeout: float) -> dict[int, str]:
    """Poll until every batch is terminal; returns id -> final Livy state."""
    states: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for batch_id in ids:
            if states.get(batch_id) in TERMINAL:
                continue
            response = await client.get(f"/api/livy/batches/{batch_id}/state")
            assert response.status_code == 200, response.text
            states[batch_id] = response.json()["state"]
        if all(states.get(i) in TERMINAL for i in ids):
            return states
        await asyncio.sleep(0.5)
    stuck = {i: s for i, s in states.items() if s not in TERMINAL}
    raise AssertionError(f"{len(stuck)} batches never became terminal: {stuck}")


def fenced_refusals(gateways: list[GatewayProcess]) -> int:
    return sum(gw.log_path.read_text().count("fenced write refused") for gw in gateways)


async def wait_until_one_launched(client: httpx.AsyncClient, ids: list[int], timeout: float = 30.0) -> int:
    """Poll until one of the latest `ids` (a list that may still grow) was launched and runs (`starting`:
    the stand-in prints no Spark start-up lines, so it never reports `running`); returns its id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for batch_id in ids[-10:]:
            state = (await client.get(f"/api/livy/batches/{batch_id}/state")).json()["state"]
            if state in ("starting", "running"):
                return batch_id
        await asyncio.sleep(0.1)
    raise AssertionError(f"none of {ids[-10:]} was launched")
