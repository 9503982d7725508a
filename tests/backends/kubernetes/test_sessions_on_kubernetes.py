"""A Livy session on a Kubernetes cluster: its SparkApplication goes through the SparkManager, and the
statement runner, started the way the driver pod would start it, serves statements end to end.

The gateway is served over real HTTP (the runner calls it); the fake API server's operator keeps the
driver "running" (outcome `hang`) while a real local Spark plays the pod.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pyspark
import pytest

from spark_gateway.api.app import create_app
from spark_gateway.domain.sessions import LABEL_LIVY_SESSION_ID, SECRET_ENV
from spark_gateway.services.sessions import RUNNER_FILE
from tests.backends.kubernetes.harness import KubeEnvFactory, ServedApp, bind_free_socket
from tests.backends.kubernetes.harness import kube_env as kube_env  # the fixture

pytestmark = [pytest.mark.spark, pytest.mark.timeout(300)]


async def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := await check()) is not None:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_pod(app: dict[str, Any], spark_env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Run the SparkApplication's driver as its pod would: main file, arguments, environment."""
    spec = app["spec"]
    assert spec["mainApplicationFile"] == "local:///opt/spark-gateway/session_runner.py"
    env = dict(spark_env)
    env.update({e["name"]: e["value"] for e in spec["driver"]["env"]})
    submit = str(Path(pyspark.__file__).parent / "bin" / "spark-submit")
    argv = [submit, "--master", "local[1]", "--conf", "spark.ui.enabled=false", str(RUNNER_FILE)]
    with log_path.open("ab") as log:
        return subprocess.Popen([*argv, *spec["arguments"]], env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_session_runs_on_kubernetes_through_the_spark_manager(
    kube_env: KubeEnvFactory, spark_env: dict[str, str], tmp_path: Path
) -> None:
    sock = bind_free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = await kube_env(sessions={"gatewayUrl": url})
    fake = env.clusters[0].fake
    fake.operator.default_outcome = "hang"  # the driver runs until it is deleted
    await fake.operator.start_ticker(0.05)
    served = ServedApp(create_app(env.settings), sock).start()
    pod: subprocess.Popen[bytes] | None = None
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            created = await client.post(
                "/api/livy/sessions", json={"kind": "pyspark", "driverMemory": "512m"}
            )
            assert created.status_code == 201, created.text
            sid, gid = created.json()["id"], created.json()["appInfo"]["GatewayId"]

            app = await wait_for(lambda: fake.get_app("default", gid), 20, "the SparkApplication")
            labels = app["metadata"]["labels"]
            assert labels[LABEL_LIVY_SESSION_ID] == str(sid)
            assert labels["spark-gateway/managed-by"] == "spark-gateway"
            assert app["spec"]["restartPolicy"] == {"type": "Never"}
            assert app["spec"]["driver"]["memory"] == "512m"
            assert [e["name"] for e in app["spec"]["driver"]["env"]] == [SECRET_ENV]
            stored = (await client.get(f"/api/v1/applications/{gid}")).text
            assert SECRET_ENV not in stored  # the clear secret went to the cluster only

            pod = start_pod(app, spark_env, tmp_path / "pod.log")

            async def idle() -> bool | None:
                state = (await client.get(f"/api/livy/sessions/{sid}/state")).json()["state"]
                return True if state == "idle" else None

            await wait_for(idle, 180, "the session to be idle")
            posted = await client.post(f"/api/livy/sessions/{sid}/statements", json={"code": "1+1"})
            assert posted.status_code == 201

            async def result() -> dict[str, Any] | None:
                body = (await client.get(f"/api/livy/sessions/{sid}/statements/0")).json()
                return body if body["state"] == "available" else None

            assert (await wait_for(result, 60, "the statement"))["output"]["data"]["text/plain"] == "2"

            assert (await client.delete(f"/api/livy/sessions/{sid}")).status_code == 200

            async def removed() -> bool | None:
                return True if await fake.get_app("default", gid) is None else None

            await wait_for(removed, 20, "the SparkApplication to be deleted")
            assert await asyncio.to_thread(pod.wait, 60) == 0  # the runner heard "shutdown" and stopped
    finally:
        if pod is not None and pod.poll() is None:
            pod.kill()
            pod.wait()
        await asyncio.to_thread(served.stop)
