"""One user's application never shows another's driver log (gateway, real SparkManager, fake cluster).

The attack: name another application's driver pod (`spark.kubernetes.driver.pod.name`, its executor
prefix, or `spec.driver.podName`), so the operator records that pod as yours and the SparkManager reads,
serves and stores its log. Submissions naming pods are refused; an application that names a pod anyway
(created before the refusal existed, or by hand in the cluster) gets no log from a pod it does not own.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from spark_gateway.backends.kubernetes.driver_pod import pod_belongs_to
from spark_gateway.db.engine import Database
from tests.api.conftest import Gateway
from tests.api.test_applications import spark_app
from tests.backends.kubernetes.harness import KubeEnv, KubeEnvFactory, insert_application, wait_for
from tests.backends.kubernetes.harness import kube_env as kube_env  # the fixture

HEADER = "X-Forwarded-User"
AUTH = {
    "middleware": [
        {
            "type": "HeaderAuthMiddleware",
            "conf": {"headers": [{"key": HEADER}], "trustedProxies": ["127.0.0.1/32"]},  # the test client
        }
    ]
}
SECRET_LINE = "bob's secret: s3cr3t-t0ken"


def as_user(user: str) -> dict[str, str]:
    return {HEADER: user}


@pytest.fixture
async def kube(kube_env: KubeEnvFactory) -> KubeEnv:
    env = await kube_env(gateway=AUTH)
    await env.clusters[0].fake.operator.start_ticker(0.05)
    return env


@pytest.fixture
async def gw(kube: KubeEnv) -> Gateway:
    return await kube.gateway()


async def bobs_running_driver(gw: Gateway, kube: KubeEnv) -> str:
    """Bob's application, running, with a secret in its driver log; returns its driver pod's name."""
    created = await gw.client.post("/api/v1/applications", json=spark_app(), headers=as_user("bob"))
    assert created.status_code == 201, created.text
    gid = created.json()["gatewayId"]
    fake = kube.clusters[0].fake

    async def running() -> dict[str, Any] | None:
        app = await fake.get_app("default", gid)
        state = ((app or {}).get("status") or {}).get("applicationState", {}).get("state")
        return app if state == "RUNNING" else None

    app = await wait_for(running, what="bob's application to run")
    await fake.operator.stop_ticker()  # bob's driver keeps running from here on
    pod = str(app["status"]["driverInfo"]["podName"])
    await fake.set_log("default", pod, ["starting", SECRET_LINE])
    return pod


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("conf", "spark.kubernetes.driver.pod.name"),
        ("conf", "spark.kubernetes.executor.podNamePrefix"),
        ("driver", "podName"),
    ],
)
async def test_submissions_naming_pods_are_refused_on_both_apis(
    gw: Gateway, kube: KubeEnv, where: str, key: str
) -> None:
    pod = "kube-dflt-someone-else-driver"
    body = spark_app()
    if where == "conf":
        body["spec"]["sparkConf"] = {key: pod}
        livy = await gw.client.post(
            "/api/livy/batches",
            json={"file": "local:///opt/pi.py", "conf": {key: pod}},
            headers=as_user("alice"),
        )
        assert livy.status_code == 400 and f"conf.{key}" in livy.json()["msg"]
        expected = f"spec.sparkConf.{key}"
    else:
        body["spec"]["driver"][key] = pod
        expected = f"spec.driver.{key}"
    v1 = await gw.client.post("/api/v1/applications", json=body, headers=as_user("alice"))
    assert v1.status_code == 400 and expected in v1.json()["error"]
    assert await kube.clusters[0].fake.all_apps() == []  # nothing reached the cluster


async def test_an_application_naming_another_pod_never_gets_its_log(gw: Gateway, kube: KubeEnv) -> None:
    pod = await bobs_running_driver(gw, kube)
    cluster = kube.clusters[0]
    # Alice's application names bob's pod: made before the refusal existed (or by hand in the cluster).
    db = Database(kube.settings.database_url())
    try:
        conf = {"spark.kubernetes.driver.pod.name": pod}
        gid, body = await insert_application(db, kube.settings, kube.settings.clusters[0], sparkConf=conf)
    finally:
        await db.dispose()
    assert cluster.manager is not None
    manager = httpx.AsyncClient(base_url=cluster.manager.url, timeout=10, headers=kube.manager_headers)
    async with manager:
        created = await manager.post(f"/api/v1/default/{gid}", json=body)
        assert created.status_code == 201, created.text
        # spark-submit cannot create a pod under a name that is taken; the operator records the name.
        status = await cluster.fake.operator.advance("default", gid)
        assert status["driverInfo"]["podName"] == pod
        assert status["applicationState"]["state"] == "SUBMISSION_FAILED"
        live = await manager.get(f"/api/v1/default/{gid}/logs")
        assert live.status_code == 200 and SECRET_LINE not in live.json()
        await cluster.fake.operator.advance("default", gid)  # FAILED: the manager copies the final log

    async def failed() -> bool:
        batch = await gw.client.get(f"/api/v1/applications/{gid}/status", headers=as_user("alice"))
        return bool(batch.json()["applicationState"]["state"] == "FAILED")

    await wait_for(failed, what="alice's application to fail")
    stored = await gw.client.get(f"/api/v1/applications/{gid}/logs", headers=as_user("alice"))
    assert stored.status_code == 200
    assert SECRET_LINE not in stored.json()
    assert f"pod {pod} has no log" in stored.json()  # what the manager says instead
    # Bob still reads his own log live, through the same checks.
    bobs = (await gw.client.get("/api/v1/applications", headers=as_user("bob"))).json()
    bob_gid = next(a["gatewayId"] for a in bobs if a["gatewayId"] != gid)
    own = await gw.client.get(f"/api/v1/applications/{bob_gid}/logs", headers=as_user("bob"))
    assert own.json().endswith(SECRET_LINE)


def test_pod_ownership_rules() -> None:
    app = {"metadata": {"name": "a1", "uid": "u1"}}
    owned = {"metadata": {"ownerReferences": [{"kind": "SparkApplication", "name": "a1", "uid": "u1"}]}}
    other_owner = {"metadata": {"ownerReferences": [{"kind": "SparkApplication", "name": "a1", "uid": "u2"}]}}
    labelled = {"metadata": {"labels": {"sparkoperator.k8s.io/app-name": "a1"}}}
    # An owner reference decides; a label on a pod someone else owns does not make it ours.
    spoofed = {"metadata": {**other_owner["metadata"], **labelled["metadata"]}}
    assert pod_belongs_to(owned, app) and pod_belongs_to(labelled, app)
    assert not pod_belongs_to(other_owner, app) and not pod_belongs_to(spoofed, app)
    assert not pod_belongs_to({"metadata": {"labels": {"sparkoperator.k8s.io/app-name": "b"}}}, app)
    assert not pod_belongs_to({"metadata": {}}, app)
