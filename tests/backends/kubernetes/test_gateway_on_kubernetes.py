"""Applications through the gateway on a Kubernetes cluster, from submission to the end, and after.

The gateway runs in-process; its SparkManager is a real server in its own thread; the fake API server's
simulated operator runs the applications (reconciling every 50 ms). Statuses reach the gateway only the
way they do in production: the manager's watch writes them to the shared database.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.api.conftest import Gateway
from tests.api.test_applications import spark_app
from tests.backends.kubernetes.harness import KubeEnv, KubeEnvFactory
from tests.backends.kubernetes.harness import kube_env as kube_env  # the fixture

TEMPLATES = {
    "sparkUI": "{{.Status.DriverInfo.WebUIIngressAddress}}",
    "sparkHistoryUI": "https://history.example/{{.ObjectMeta.Namespace}}/{{.Status.SparkApplicationID}}",
    "logsUI": "https://logs.example/?pod={{.Status.DriverInfo.PodName}}&app={{.ObjectMeta.Name}}",
}
TERMINAL_LIVY = {"success", "error", "dead", "killed"}


@pytest.fixture
async def kube(kube_env: KubeEnvFactory) -> KubeEnv:
    env = await kube_env(gateway={"statusUrlTemplates": TEMPLATES})
    operator = env.clusters[0].fake.operator
    operator.ingress_url_format = "spark.example.com/{{$appNamespace}}/{{$appName}}"
    await operator.start_ticker(0.05)
    return env


@pytest.fixture
async def gw(kube: KubeEnv) -> Gateway:
    return await kube.gateway()


async def livy_states(gw: Gateway, batch_id: int, until: set[str], timeout: float = 20) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = (await gw.client.get(f"/api/livy/batches/{batch_id}/state")).json()["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in until:
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"batch {batch_id} stuck; seen {seen}")


async def v1_state(gw: Gateway, gid: str, state: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = (await gw.client.get(f"/api/v1/applications/{gid}/status")).json()
        if status["applicationState"]["state"] == state:
            return dict(status)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{gid} never reached {state}: {status}")


async def test_livy_batch_runs_to_success_and_its_log_outlives_the_cluster(
    gw: Gateway, kube: KubeEnv
) -> None:
    fake = kube.clusters[0].fake
    created = await gw.client.post("/api/livy/batches", json={"file": "local:///opt/pi.py", "name": "pi"})
    assert created.status_code == 201
    batch = created.json()
    seen = await livy_states(gw, batch["id"], TERMINAL_LIVY)
    assert seen[-1] == "success" and "running" in seen
    assert set(seen) <= {"not_started", "starting", "running", "shutting_down", "success"}
    view = (await gw.client.get(f"/api/livy/batches/{batch['id']}")).json()
    gid = view["appInfo"]["GatewayId"]
    assert view["appId"].startswith("spark-")
    assert view["appInfo"]["sparkUiUrl"] == f"http://spark.example.com/default/{gid}"
    assert view["appInfo"]["sparkHistoryUrl"] == f"https://history.example/default/{view['appId']}"
    assert view["appInfo"]["driverLogUrl"] == f"https://logs.example/?pod={gid}-driver&app={gid}"
    log = (await gw.client.get(f"/api/livy/batches/{batch['id']}/log", params={"size": -1})).json()
    assert log["log"][-1].endswith("Successfully stopped SparkContext") and log["total"] == 4
    await fake.delete_app("default", gid)  # kubectl delete, or the operator's TTL: the pod goes too
    assert await fake.get_pod("default", f"{gid}-driver") is None
    await asyncio.sleep(0.3)
    after = (await gw.client.get(f"/api/livy/batches/{batch['id']}/log", params={"size": -1})).json()
    assert after["log"] == log["log"]
    assert (await gw.client.get(f"/api/livy/batches/{batch['id']}/state")).json()["state"] == "success"


async def test_failing_batch_is_error_with_the_driver_log(gw: Gateway, kube: KubeEnv) -> None:
    body = {"file": "local:///opt/fail.py", "conf": {"spark.executor.instances": 1}}
    batch = (await gw.client.post("/api/livy/batches", json=body)).json()
    gid = batch["appInfo"]["GatewayId"]
    await kube.clusters[0].fake.operator.script("default", gid, "fail")
    seen = await livy_states(gw, batch["id"], TERMINAL_LIVY)
    assert seen[-1] == "error"
    log = (await gw.client.get(f"/api/livy/batches/{batch['id']}/log")).json()["log"]
    assert log[-1] == "java.lang.Exception: boom"
    status = (await gw.client.get(f"/api/v1/applications/{gid}/status")).json()
    assert status["applicationState"]["errorMessage"].startswith("driver container failed with ExitCode: 1")
    assert status["terminationTime"]


async def test_v1_application_with_a_rerun_urls_and_live_logs(gw: Gateway, kube: KubeEnv) -> None:
    fake = kube.clusters[0].fake
    body = spark_app()
    body["spec"]["restartPolicy"] = {"type": "OnFailure", "onFailureRetries": 1}
    await fake.operator.stop_ticker()
    created = (await gw.client.post("/api/v1/applications", json=body)).json()
    gid = created["gatewayId"]
    assert created["cluster"] == "kube" and created["sparkApplication"]["metadata"]["name"] == gid
    await fake.operator.script("default", gid, "fail", "success")
    await fake.operator.run_until("default", gid, "RUNNING")
    await v1_state(gw, gid, "RUNNING")
    live = (await gw.client.get(f"/api/v1/applications/{gid}/logs", params={"lines": 1})).json()
    assert live == "26/01/01 00:00:00 INFO Utils: Successfully started service 'SparkUI' on port 4040."
    got = (await gw.client.get(f"/api/v1/applications/{gid}")).json()
    assert got["sparkLogURLs"]["sparkUI"] == f"http://spark.example.com/default/{gid}"
    assert "executorState" not in got["sparkApplication"]["status"]
    # The real operator waits onFailureRetryInterval (5 s by default) before it deletes the failed
    # driver: the fake reruns at once, so let it go on only once the failure has been recorded.
    await fake.operator.run_until("default", gid, "FAILING")
    await v1_state(gw, gid, "FAILING")
    await fake.operator.start_ticker(0.05)
    status = await v1_state(gw, gid, "COMPLETED")
    assert status["executionAttempts"] == 2 and status["submissionAttempts"] == 2
    logs = (await gw.client.get(f"/api/v1/applications/{gid}/logs", params={"lines": 1000})).json()
    assert "java.lang.Exception: boom" in logs and "driver log of submission attempt 2" in logs
    livy = (await gw.client.get("/api/v1/applications", params={"cluster": "kube"})).json()
    assert [a["gatewayId"] for a in livy] == [gid]


async def test_delete_while_running_kills_it_in_the_cluster(gw: Gateway, kube: KubeEnv) -> None:
    fake = kube.clusters[0].fake
    await fake.operator.stop_ticker()
    batch = (await gw.client.post("/api/livy/batches", json={"file": "local:///opt/sleep.py"})).json()
    gid = batch["appInfo"]["GatewayId"]
    await fake.operator.run_until("default", gid, "RUNNING")
    await livy_states(gw, batch["id"], {"running"})
    assert (await gw.client.delete(f"/api/livy/batches/{batch['id']}")).json() == {"msg": "deleted"}
    assert (
        await fake.get_app("default", gid) is None and await fake.get_pod("default", f"{gid}-driver") is None
    )
    assert (await gw.client.get(f"/api/livy/batches/{batch['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("spec", "status", "fragment"),
    [
        (
            {"restartPolicy": {"type": "Sometimes"}},
            422,
            'spec.restartPolicy.type: Unsupported value: "Sometimes"',
        ),
        ({"sparkVerison": "4"}, 400, 'unknown field "spec.sparkVerison"'),
    ],
)
async def test_cluster_refusals_keep_their_code_and_store_nothing(
    gw: Gateway, kube: KubeEnv, spec: dict[str, Any], status: int, fragment: str
) -> None:
    body = spark_app()
    body["spec"].update(spec)
    response = await gw.client.post("/api/v1/applications", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    assert (await gw.client.get("/api/v1/applications")).json() == []
    kube.clusters[0].fake.rejected.clear()  # the CRD rejection was the point


async def test_unreachable_manager_is_503(gw: Gateway, kube: KubeEnv) -> None:
    manager = kube.clusters[0].manager
    assert manager is not None
    await asyncio.to_thread(manager.stop)
    response = await gw.client.post("/api/livy/batches", json={"file": "local:///opt/pi.py"})
    assert response.status_code == 503 and "unreachable" in response.json()["msg"]
    assert response.headers["retry-after"]
    assert (await gw.client.get("/api/livy/batches")).json()["total"] == 0
