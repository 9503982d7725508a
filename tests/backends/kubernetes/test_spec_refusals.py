"""Non-admins cannot make the operator build a pod that changes identity or reaches the host.

Through the gateway (both APIs) in front of a real SparkManager and the fake cluster: refused fields
are a 400 naming the field path, and nothing reaches the cluster or the database; an admin's
submission passes through as sent; what the operator allows by configuration passes for everyone.
"""

from __future__ import annotations

from typing import Any

import pytest

from spark_gateway.domain.errors import ConfigError
from spark_gateway.settings import Settings
from tests.api.conftest import Gateway
from tests.api.test_applications import spark_app
from tests.backends.kubernetes.harness import KubeEnv, KubeEnvFactory
from tests.backends.kubernetes.harness import kube_env as kube_env  # the fixture

HEADER = "X-Forwarded-User"
AUTH = {
    "middleware": [
        {
            "type": "HeaderAuthMiddleware",
            "conf": {"headers": [{"key": HEADER}], "trustedProxies": ["127.0.0.1/32"]},  # the test client
        }
    ],
    "authorization": {"admins": ["root"]},
}
HOST_VOLUME = {"name": "host", "hostPath": {"path": "/var/run"}}


def as_user(user: str) -> dict[str, str]:
    return {HEADER: user}


def with_spec(**changes: Any) -> dict[str, Any]:
    body = spark_app()
    for path, value in changes.items():
        node = body["spec"]
        *parents, last = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return body


@pytest.fixture
async def kube(kube_env: KubeEnvFactory) -> KubeEnv:
    return await kube_env()


async def submit(gw: Gateway, body: dict[str, Any], user: str | None = "alice") -> Any:
    headers = as_user(user) if user else {}
    return await gw.client.post("/api/v1/applications", json=body, headers=headers)


REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"volumes": [HOST_VOLUME]}, "spec.volumes[0].hostPath"),
    ({"driver__securityContext": {"privileged": True}}, "spec.driver.securityContext.privileged"),
    ({"executor__podSecurityContext": {"runAsUser": 0}}, "spec.executor.podSecurityContext.runAsUser"),
    ({"driver__serviceAccount": "spark-operator"}, "spec.driver.serviceAccount"),
    ({"executor__hostNetwork": True}, "spec.executor.hostNetwork"),
    ({"driver__env": [{"name": "HADOOP_USER_NAME", "value": "hdfs"}]}, "spec.driver.env[0]"),
    ({"executor__envVars": {"SPARK_USER": "bob"}}, "spec.executor.envVars.SPARK_USER"),
    (
        {"sparkConf": {"spark.kubernetes.authenticate.driver.serviceAccountName": "admin"}},
        "spec.sparkConf.spark.kubernetes.authenticate.driver.serviceAccountName",
    ),
]


async def test_non_admins_are_refused_with_the_field_named(kube: KubeEnv) -> None:
    gw = await kube.gateway(gateway=AUTH)
    for changes, path in REFUSED:
        response = await submit(gw, with_spec(**changes))
        assert response.status_code == 400
        assert path in response.json()["error"], response.text
    assert await kube.clusters[0].fake.all_apps() == []
    assert (await gw.client.get("/api/v1/applications", headers=as_user("root"))).json() == []


async def test_livy_conf_keys_are_refused_by_their_livy_name(kube: KubeEnv) -> None:
    gw = await kube.gateway(gateway=AUTH)
    for key, value in (
        ("spark.kubernetes.driver.volumes.hostPath.logs.mount.path", "/host"),
        ("spark.kubernetes.driverEnv.HADOOP_USER_NAME", "hdfs"),
        ("spark.kubernetes.driver.podTemplateFile", "/tmp/privileged.yaml"),
        ("spark.kubernetes.namespace", "kube-system"),
    ):
        body = {"file": "local:///opt/pi.py", "conf": {key: value}}
        response = await gw.client.post("/api/livy/batches", json=body, headers=as_user("alice"))
        assert response.status_code == 400 and f"conf.{key}" in response.json()["msg"], response.text
    assert await kube.clusters[0].fake.all_apps() == []


async def test_an_admin_submits_what_others_may_not(kube: KubeEnv) -> None:
    gw = await kube.gateway(gateway=AUTH)
    body = with_spec(
        volumes=[HOST_VOLUME],
        driver__serviceAccount="spark-operator",
        driver__securityContext={"privileged": True},
        driver__env=[{"name": "HADOOP_USER_NAME", "value": "hdfs"}],
    )
    assert (await submit(gw, body)).status_code == 400
    created = await submit(gw, body, user="root")
    assert created.status_code == 201, created.text
    in_cluster = await kube.clusters[0].fake.get_app("default", created.json()["gatewayId"])
    assert in_cluster is not None
    assert in_cluster["spec"]["volumes"] == [HOST_VOLUME]
    assert in_cluster["spec"]["driver"]["securityContext"] == {"privileged": True}


async def test_the_operator_allows_fields_and_service_accounts_by_configuration(kube: KubeEnv) -> None:
    allowing = {**AUTH, "allowedSpecFields": ["spec.volumes.hostPath"], "allowedServiceAccounts": ["spark"]}
    gw = await kube.gateway(gateway=allowing)
    allowed = with_spec(
        volumes=[HOST_VOLUME], driver__serviceAccount="spark", executor__serviceAccount="spark"
    )
    created = await submit(gw, allowed)
    assert created.status_code == 201, created.text
    in_cluster = await kube.clusters[0].fake.get_app("default", created.json()["gatewayId"])
    assert in_cluster is not None and in_cluster["spec"]["driver"]["serviceAccount"] == "spark"
    other_account = with_spec(driver__serviceAccount="spark-operator")
    assert "spec.driver.serviceAccount" in (await submit(gw, other_account)).json()["error"]
    still = await submit(gw, with_spec(volumes=[HOST_VOLUME], driver__securityContext={"privileged": True}))
    assert still.status_code == 400
    assert "spec.driver.securityContext.privileged" in still.json()["error"]
    assert "spec.volumes" not in still.json()["error"]


async def test_without_authentication_nobody_is_exempt(kube: KubeEnv) -> None:
    gw = await kube.gateway()
    response = await submit(gw, with_spec(volumes=[HOST_VOLUME]), user=None)
    assert response.status_code == 400 and "spec.volumes[0].hostPath" in response.json()["error"]
    honest = with_spec(
        driver__tolerations=[{"key": "spark", "operator": "Exists"}], nodeSelector={"pool": "a"}
    )
    assert (await submit(gw, honest, user=None)).status_code == 201


def test_allowed_spec_fields_must_be_field_paths() -> None:
    with pytest.raises(ConfigError, match=r"gateway.allowedSpecFields.*'hostPath' is not a field path"):
        Settings.load(None, gateway={"allowedSpecFields": ["hostPath"]})
