"""Admission control: at most `maxConcurrentJobs` run; the rest wait (not_started) in submission order.

Jobs are real processes started by the real local backend; `spark-submit` is a small script (the one
the local backend tests use) so no JVM is needed to exercise the queue.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from spark_gateway.services.supervision.supervisor import ClusterSupervisor
from tests.api.conftest import Gateway, GatewayFactory
from tests.backends.local.test_local_backend import FAKE_SPARK_SUBMIT


async def states(client, ids: list[int]) -> list[str]:  # type: ignore[no-untyped-def]
    return [(await client.get(f"/api/livy/batches/{i}/state")).json()["state"] for i in ids]


async def stand_in_gateway(make_gateway: GatewayFactory, tmp_path: Path) -> tuple[Gateway, Path]:
    """A gateway whose local cluster runs the stand-in spark-submit (two jobs at a time); its job file."""
    script = tmp_path / "fake-spark-submit"
    script.write_text(FAKE_SPARK_SUBMIT.format(python=sys.executable))
    script.chmod(0o755)
    apps = tmp_path / "apps"
    apps.mkdir()
    main = apps / "job.py"
    main.write_text("")
    gw = await make_gateway(
        clusters=[
            {
                "name": "local",
                "id": "local",
                "type": "local",
                "namespaces": [{"name": "default", "id": "dflt"}],
                "local": {
                    "sparkSubmit": str(script),
                    "allowedDirs": [str(apps)],
                    "maxConcurrentJobs": 2,
                    "pollIntervalSeconds": 0.2,
                },
            }
        ]
    )
    return gw, main


async def test_queue_admits_in_submission_order_up_to_the_limit(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw, main = await stand_in_gateway(make_gateway, tmp_path)
    ids = []
    for seconds in ("1", "30", "30", "30"):
        response = await gw.client.post(
            "/api/livy/batches", json={"file": str(main), "args": [f"sleep={seconds}"]}
        )
        assert response.status_code == 201
        ids.append(response.json()["id"])
    supervisor = ClusterSupervisor(gw.runtime, gw.settings.clusters[0])
    try:
        assert await supervisor.admit_once() == 2
        assert await supervisor.admit_once() == 0  # full
        assert await states(gw.client, ids) == ["starting", "starting", "not_started", "not_started"]

        # The short job ends; the oldest waiting one (not the newest) takes its place.
        for _ in range(100):
            await supervisor.run_once()
            current = await states(gw.client, ids)
            if current[0] == "success":
                break
            await asyncio.sleep(0.2)
        assert current[0] == "success"
        await supervisor.admit_once()
        current = await states(gw.client, ids)
        assert current[2] in ("starting", "running") and current[3] == "not_started"
    finally:
        for batch_id in ids:
            await gw.client.delete(f"/api/livy/batches/{batch_id}")
        await supervisor.backend.close()
