"""The gateway's own API tests, run unchanged against a Kubernetes cluster instead of the local one.

Every `test_*` of tests/api/test_applications.py and tests/api/test_livy_batches.py is collected here
again, with `gateway`/`make_gateway` giving a gateway whose only cluster is of `type: kubernetes`: each
create goes over HTTP to a real SparkManager (uvicorn, own thread and event loop), which creates the
SparkApplication in the fake Kubernetes API server (CRD-validated; any rejection fails the test at
teardown), and each delete removes it there. The cluster keeps the default cluster's name and id
(`local`), because those tests assert them; what differs is only where applications run.

One case is local-only and is replaced: the local backend refuses files outside its allowed
directories (`/etc/passwd.py`), while on Kubernetes an absolute path names a file in the image.
"""

from __future__ import annotations

from typing import Any

import pytest

from spark_gateway.backends.base import SupervisedBackend
from tests.api import test_applications as v1_api
from tests.api import test_livy_batches as livy_api
from tests.api.conftest import Gateway, GatewayFactory
from tests.backends.kubernetes.harness import KubeEnv, KubeEnvFactory
from tests.backends.kubernetes.harness import kube_env as kube_env  # the fixture

for _module in (v1_api, livy_api):
    for _name, _test in vars(_module).items():
        if _name.startswith("test_") and callable(_test):
            globals()[_name] = _test

LOCAL_ONLY_FILES = (b'{"file": "/etc/passwd.py"}',)


@pytest.fixture
async def kube(kube_env: KubeEnvFactory) -> KubeEnv:
    return await kube_env([("local", "local", 1.0)])


@pytest.fixture
async def make_gateway(kube: KubeEnv) -> GatewayFactory:
    async def factory(**overrides: Any) -> Gateway:
        gw = await kube.gateway(**overrides)
        assert gw.runtime.backend("local").kind == "kubernetes"
        assert not isinstance(gw.runtime.backend("local"), SupervisedBackend)
        return gw

    return factory


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Gateway:
    gw: Gateway = await make_gateway()
    return gw


_bad_request_cases = [
    case
    for case in livy_api.test_bad_requests_are_400_with_msg.pytestmark[0].args[1]
    if case[0] not in LOCAL_ONLY_FILES
]


@pytest.mark.parametrize(("body", "fragment"), _bad_request_cases)
async def test_bad_requests_are_400_with_msg(gateway: Gateway, body: bytes, fragment: str) -> None:
    await livy_api.test_bad_requests_are_400_with_msg(gateway, body, fragment)


async def test_absolute_paths_are_files_in_the_image(gateway: Gateway, kube: KubeEnv) -> None:
    response = await gateway.client.post("/api/livy/batches", json={"file": "/etc/passwd.py"})
    assert response.status_code == 201, response.text
    gateway_id = response.json()["appInfo"]["GatewayId"]
    created = await kube.clusters[0].fake.get_app("default", gateway_id)
    assert created is not None and created["spec"]["mainApplicationFile"] == "/etc/passwd.py"


async def test_every_create_reached_the_cluster(gateway: Gateway, kube: KubeEnv) -> None:
    batch = (await gateway.client.post("/api/livy/batches", json={"file": "local:///opt/pi.py"})).json()
    app = (await gateway.client.post("/api/v1/applications", json=v1_api.spark_app())).json()
    names = [a["metadata"]["name"] for a in await kube.clusters[0].fake.all_apps()]
    assert sorted(names) == sorted([batch["appInfo"]["GatewayId"], app["gatewayId"]])
    await gateway.client.delete(f"/api/v1/applications/{app['gatewayId']}")
    assert await kube.clusters[0].fake.get_app("default", app["gatewayId"]) is None
