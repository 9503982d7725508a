"""A lease holder paused past its lease neither launches a job nor records a launch, and a successor
repeats no stored driver log line.

The supervisor's launch is fenced twice: right before `spark-submit` runs, and in the transaction that
records SUBMITTED. A launch whose record is refused stays not_started in the database, so the successor
adopts the job (same job directory) instead of running it a second time.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from spark_gateway.backends.base import SubmitResult, TrackedApplication
from spark_gateway.db import repository as repo
from spark_gateway.domain.sparkapp import SparkApplication
from spark_gateway.domain.states import AppState
from spark_gateway.services.gateway import build_backend
from spark_gateway.services.supervision.background import FencedSink, lease_name
from spark_gateway.services.supervision.lease import LeaseLost, LeaseTerm
from spark_gateway.services.supervision.supervisor import ClusterSupervisor
from tests.api.conftest import Gateway, GatewayFactory
from tests.services.supervision.leases import held
from tests.services.supervision.test_supervisor import stand_in_gateway

LEASE = lease_name("local")


async def submit(gw: Gateway, main: Path) -> int:
    response = await gw.client.post("/api/livy/batches", json={"file": str(main), "args": ["sleep=30"]})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def paused_holder(gw: Gateway) -> ClusterSupervisor:
    """A supervisor writing for a term of 0.3 s: it is current now and lapses once the test waits."""
    token = await held(gw.runtime.db, repo.acquire_lease, LEASE, "paused", 0.3)
    sink = FencedSink(gw.runtime.db, LeaseTerm(LEASE, "paused", token, 1), keep=100)
    return ClusterSupervisor(dataclasses.replace(gw.runtime, sink=sink), gw.settings.clusters[0])


async def take_over(gw: Gateway) -> None:
    await asyncio.sleep(0.35)
    assert await held(gw.runtime.db, repo.acquire_lease, LEASE, "successor", 30) is not None


def job_dirs(gw: Gateway) -> list[str]:
    root = Path(gw.settings.dataDir) / "jobs"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


async def state(gw: Gateway, batch_id: int) -> str:
    return str((await gw.client.get(f"/api/livy/batches/{batch_id}/state")).json()["state"])


async def test_a_holder_past_its_lease_does_not_launch(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    gw, main = await stand_in_gateway(make_gateway, tmp_path)
    batch = await submit(gw, main)
    supervisor = await paused_holder(gw)
    await take_over(gw)
    try:
        with pytest.raises(LeaseLost):
            await supervisor.admit_once()
        assert job_dirs(gw) == []  # spark-submit never ran
        assert await state(gw, batch) == "not_started"
    finally:
        await supervisor.backend.close()


async def test_a_launch_whose_lease_lapsed_meanwhile_is_not_recorded(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw, main = await stand_in_gateway(make_gateway, tmp_path)
    batch = await submit(gw, main)
    supervisor = await paused_holder(gw)
    backend = supervisor.backend
    launch = backend.submit
    launched: list[TrackedApplication] = []

    async def slow_launch(app: SparkApplication) -> SubmitResult:
        result = await launch(app)
        launched.append(
            TrackedApplication(
                app.metadata.name or "", "default", AppState.SUBMITTED, result.backend_ref, app
            )
        )
        await take_over(gw)  # the holder is paused between the launch and its record
        return result

    backend.submit = slow_launch  # type: ignore[method-assign]
    try:
        with pytest.raises(LeaseLost):
            await supervisor.admit_once()
        assert await state(gw, batch) == "not_started"  # the successor adopts the job it finds
        [job] = job_dirs(gw)
        async with gw.runtime.db.transaction() as session:
            row = await repo.get_application(session, job)
        assert row is not None and row.backend_ref == {}
    finally:
        for job in launched:
            await backend.kill(job)
        await backend.close()


async def test_a_successor_resumes_the_log_where_the_stored_lines_end(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Lines and the offset they reach are stored together: a takeover right after lines were stored
    (after the RUNNING report, long before the next periodic checkpoint) stores none of them again."""
    gw, main = await stand_in_gateway(make_gateway, tmp_path)
    response = await gw.client.post(
        "/api/livy/batches", json={"file": str(main), "args": ["wait=1", "lines=3", "sleep=30"]}
    )
    batch = int(response.json()["id"])
    first = ClusterSupervisor(gw.runtime, gw.settings.clusters[0])
    successor = None
    try:
        assert await first.admit_once() == 1
        for _ in range(100):
            await first.poll_once()
            log = (await gw.client.get(f"/api/livy/batches/{batch}/log")).json()["log"]
            if "line 2" in log:
                break
            await asyncio.sleep(0.1)
        # The holder dies here; the successor starts from what the database says.
        fresh = build_backend(gw.settings.clusters[0], gw.settings)
        successor = ClusterSupervisor(
            dataclasses.replace(gw.runtime, backends={"local": fresh}), gw.settings.clusters[0]
        )
        await successor.reconcile()
        await successor.poll_once()
        log = (await gw.client.get(f"/api/livy/batches/{batch}/log")).json()["log"]
        assert [line for line in log if line.startswith("line ")] == ["line 0", "line 1", "line 2"]
    finally:
        await gw.client.delete(f"/api/livy/batches/{batch}")
        await first.backend.close()
        if successor is not None:
            await successor.backend.close()
