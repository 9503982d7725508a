"""The SparkManager's REST API and metrics over real HTTP, in front of the fake Kubernetes API server.

Shapes follow the reference gateway's SparkManager (§1.5); Kubernetes errors keep their meaning
(AlreadyExists 409, NotFound 404, Invalid 422, BadRequest 400, unreachable 503), never a bare 500.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from spark_gateway.api.manager.metrics import cpu_estimate, kube_cpu
from spark_gateway.domain.ids import new_gateway_id
from tests.backends.kubernetes.harness import KubeCluster, KubeEnv, KubeEnvFactory, wait_for
from tests.backends.kubernetes.harness import kube_env as kube_env  # the fixture
from tests.fakes.k8s_server import sample_app


def app_body(namespace: str = "default", **spec: Any) -> dict[str, Any]:
    ns_id = {"default": "dflt", "team": "team"}.get(namespace, "dflt")
    return sample_app(new_gateway_id("kube", ns_id), namespace, **spec)


@pytest.fixture
async def env(kube_env: KubeEnvFactory) -> KubeEnv:
    return await kube_env()


@pytest.fixture
async def client(env: KubeEnv) -> Any:
    manager = env.clusters[0].manager
    assert manager is not None
    async with httpx.AsyncClient(base_url=manager.url, timeout=10, headers=env.manager_headers) as http:
        yield http


def cluster(env: KubeEnv) -> KubeCluster:
    return env.clusters[0]


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    meta = body["metadata"]
    return await client.post(f"/api/v1/{meta['namespace']}/{meta['name']}", json=body)


async def test_health_ready_and_crud(client: httpx.AsyncClient, env: KubeEnv) -> None:
    assert (await client.get("/health")).json() == {"status": "OK"}
    assert (await client.get("/ready")).json() == {"status": "OK", "cluster": "kube"}
    body = app_body()
    name = body["metadata"]["name"]
    created = await create(client, body)
    assert created.status_code == 201
    assert created.json()["metadata"]["uid"] and created.json()["metadata"]["name"] == name
    got = (await client.get(f"/api/v1/default/{name}")).json()
    assert got["spec"] == body["spec"] and "managedFields" not in got["metadata"]
    assert (await client.get(f"/api/v1/default/{name}/status")).json() == {
        "applicationState": {"state": ""},
        "driverInfo": {},
    }
    listing = (await client.get("/api/v1/default")).json()
    assert [s["metadata"]["name"] for s in listing] == [name]
    assert set(listing[0]) == {"kind", "apiVersion", "metadata", "status"}
    assert (await client.get("/api/v1/team")).json() == []
    await cluster(env).fake.operator.run_until("default", name, "RUNNING")
    logs = await client.get(f"/api/v1/default/{name}/logs", params={"lines": 2})
    assert logs.headers["content-type"] == "application/json"
    assert logs.json().endswith("Successfully started service 'SparkUI' on port 4040.")
    assert len(logs.json().split("\n")) == 2
    assert (await client.delete(f"/api/v1/default/{name}")).json() == {"status": "success"}
    assert (await client.get(f"/api/v1/default/{name}")).status_code == 404


@pytest.mark.parametrize(
    ("mutate", "status", "fragment"),
    [
        (lambda b: b["spec"].update(type="Go"), 422, 'spec.type: Unsupported value: "Go"'),
        (lambda b: b["spec"].update(sparkVerison="4"), 400, 'unknown field "spec.sparkVerison"'),
        (lambda b: b["metadata"].update(namespace="elsewhere"), 400, "must match the request path"),
    ],
)
async def test_kubernetes_errors_keep_their_meaning(
    client: httpx.AsyncClient, env: KubeEnv, mutate: Any, status: int, fragment: str
) -> None:
    body = app_body()
    path = f"/api/v1/default/{body['metadata']['name']}"
    mutate(body)
    response = await client.post(path, json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    cluster(env).fake.rejected.clear()  # a CRD rejection was the point here


async def test_conflict_missing_and_bad_input(client: httpx.AsyncClient, env: KubeEnv) -> None:
    body = app_body()
    assert (await create(client, body)).status_code == 201
    duplicate = await create(client, body)
    assert duplicate.status_code == 409 and "already exists" in duplicate.json()["error"]
    missing = f"/api/v1/default/{new_gateway_id('kube', 'dflt')}"
    for method, path in [("GET", ""), ("GET", "/status"), ("GET", "/logs"), ("DELETE", "")]:
        response = await client.request(method, missing + path)
        assert response.status_code == 404, (method, path)
        assert "not found" in response.json()["error"]
    other = app_body("other-ns")
    assert (await create(client, other)).status_code == 400  # not a namespace of this cluster
    not_json = await client.post(missing, content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 400
    assert (await client.get(missing + "/logs", params={"lines": "ten"})).status_code == 400


async def test_unreachable_cluster_is_503(client: httpx.AsyncClient, env: KubeEnv) -> None:
    await cluster(env).fake.server_down()
    response = await create(client, app_body())
    assert response.status_code == 503 and "cannot reach the Kubernetes API" in response.json()["error"]
    assert response.headers["retry-after"]
    assert (await client.get("/api/v1/default")).status_code == 503

    async def unready() -> bool:
        return (await client.get("/ready")).status_code == 503

    await wait_for(unready, what="the manager to report its watch failing")
    await cluster(env).fake.server_up()

    async def ready() -> bool:
        return (await client.get("/ready")).status_code == 200

    await wait_for(ready, what="the manager to recover")


def samples(text: str, metric: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        if family.name == metric:
            for sample in family.samples:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_metrics_follow_the_cluster(client: httpx.AsyncClient, env: KubeEnv) -> None:
    fake = cluster(env).fake
    plain = app_body()
    dynamic = app_body("team", dynamicAllocation={"enabled": True, "maxExecutors": 4})
    dynamic["spec"]["driver"]["coreRequest"] = "500m"
    for body in (plain, dynamic):
        assert (await create(client, body)).status_code == 201
    text = (await client.get("/metrics")).text
    count = samples(text, "spark_application_count")
    assert count[(("cluster", "kube"), ("namespace", ""))] == 2
    assert count[(("cluster", "kube"), ("namespace", "default"))] == 1
    assert count[(("cluster", "kube"), ("namespace", "team"))] == 1
    cpu = samples(text, "cpu_allocated")
    assert cpu[(("cluster", "kube"), ("namespace", "default"))] == 2.0  # 1 driver + 1 x 1 executor
    assert cpu[(("cluster", "kube"), ("namespace", "team"))] == 4.5  # 0.5 + 1 x 4 (dynamic max)
    await fake.operator.run_until("default", plain["metadata"]["name"], "COMPLETED")

    async def settled() -> bool:
        text = (await client.get("/metrics")).text
        return samples(text, "spark_application_count")[(("cluster", "kube"), ("namespace", ""))] == 1

    await wait_for(settled, what="the completed application to stop counting")
    text = (await client.get("/metrics")).text
    states = samples(text, "spark_application_state_count")
    assert states[(("cluster", "kube"), ("namespace", "default"), ("state", "COMPLETED"))] == 1
    assert states[(("cluster", "kube"), ("namespace", "team"), ("state", "NEW"))] == 1
    assert samples(text, "spark_manager_watch_synced")[(("cluster", "kube"),)] == 1


def test_cpu_estimate_follows_the_reference_precedence() -> None:
    assert kube_cpu("500m") == 0.5 and kube_cpu("2") == 2 and kube_cpu(1.5) == 1.5 and kube_cpu("x") is None
    bare: dict[str, Any] = {"spec": {}}
    assert cpu_estimate(bare) == 2.0  # 1 driver core + 1 executor x 1 core
    conf = {
        "spark.driver.cores": "3",
        "spark.executor.instances": "5",
        "spark.kubernetes.executor.request.cores": "250m",
    }
    assert cpu_estimate({"spec": {"sparkConf": conf}}) == 3 + 0.25 * 5
    dynamic = {"sparkConf": {"spark.dynamicAllocation.enabled": "true"}, "executor": {"cores": 2}}
    assert cpu_estimate({"spec": dynamic}) == 1 + 2 * 1000  # no maximum: the reference assumes 1000
    spec = {"driver": {"cores": 2, "coreRequest": "1"}, "executor": {"instances": 3, "cores": 2}}
    assert cpu_estimate({"spec": spec}) == 1 + 2 * 3
