"""The SparkManager API requires the bearer token it shares with the gateway.

Pods in the cluster can reach a manager; without the token they get 401 on everything but /health and
/ready. The gateway sends the token on every call (create, logs, delete, readiness, the metrics that
`weightBased` routing reads); a gateway with the wrong token gets a 503 that says what to configure; a
manager with no token at all refuses to start unless told it may run unauthenticated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from spark_gateway.services.routing import WeightBasedRouter
from tests.api.test_applications import spark_app
from tests.backends.kubernetes.harness import MANAGER_TOKEN, KubeEnv, KubeEnvFactory, wait_for
from tests.backends.kubernetes.harness import kube_env as kube_env  # the fixture
from tests.e2e.conftest import REPO

TWO = [("c1", "c1", 1.0), ("c2", "c2", 1.0)]


def manager_url(env: KubeEnv, name: str = "kube") -> str:
    manager = env.cluster(name).manager
    assert manager is not None
    return manager.url


async def test_without_the_token_a_manager_answers_only_health_and_ready(kube_env: KubeEnvFactory) -> None:
    env = await kube_env()
    async with httpx.AsyncClient(base_url=manager_url(env), timeout=10) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 200
        calls = [
            ("GET", "/api/v1/default"),
            ("POST", "/api/v1/default/kube-dflt-x"),
            ("GET", "/api/v1/default/kube-dflt-x/logs"),
            ("DELETE", "/api/v1/default/kube-dflt-x"),
            ("GET", "/metrics"),
            ("GET", "/docs"),
        ]
        for token in (None, "wrong-token-0123456789", MANAGER_TOKEN + "x", MANAGER_TOKEN[:-1]):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            for method, path in calls:
                response = await client.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, path, token)
                assert "token" in response.json()["error"]
                assert response.headers["www-authenticate"].startswith("Bearer")
        assert (
            await client.get("/api/v1/default", headers={"Authorization": MANAGER_TOKEN})
        ).status_code == 401
        good = {"Authorization": f"Bearer {MANAGER_TOKEN}"}
        assert (await client.get("/api/v1/default", headers=good)).json() == []
    assert await env.clusters[0].fake.all_apps() == []  # nothing was created by the refused calls


async def test_the_gateway_uses_the_token_for_every_call(kube_env: KubeEnvFactory) -> None:
    env = await kube_env(TWO, clusterRouter={"type": "weightBased", "fallbackType": "weightBased"})
    gw = await env.gateway()
    router = gw.runtime.routing.primary
    assert isinstance(router, WeightBasedRouter)
    c1 = next(c for c in env.settings.clusters if c.name == "c1")
    assert "spark_application_count" in await router.probe.metrics_text(c1)  # weightBased's read
    assert await router.probe.healthy(c1)
    created = []
    for _ in range(4):  # weightBased needs both managers' metrics to alternate
        response = await gw.client.post("/api/v1/applications", json=spark_app())
        assert response.status_code == 201, response.text
        created.append(response.json())
    assert {a["cluster"] for a in created} == {"c1", "c2"}
    gid = created[0]["gatewayId"]
    fake = env.cluster(created[0]["cluster"]).fake
    await fake.operator.run_until("default", gid, "RUNNING")

    async def live_log() -> str:
        return str((await gw.client.get(f"/api/v1/applications/{gid}/logs")).json())

    assert "SparkUI" in await wait_for(live_log, what="the live driver log through the manager")
    assert (await gw.client.delete(f"/api/v1/applications/{gid}")).status_code == 200
    assert await fake.get_app("default", gid) is None


async def test_a_gateway_with_the_wrong_token_gets_a_clear_503(
    kube_env: KubeEnvFactory, tmp_path: Path
) -> None:
    env = await kube_env()
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-managers-token-0123")
    gw = await env.gateway(sparkManager={"apiTokenFile": str(wrong)})
    response = await gw.client.post("/api/v1/applications", json=spark_app())
    assert response.status_code == 503
    message = response.json()["error"]
    assert "sparkManager.apiTokenFile" in message and "SPARK_MANAGER_API_TOKEN" in message
    livy = await gw.client.post("/api/livy/batches", json={"file": "local:///opt/pi.py"})
    assert livy.status_code == 503 and "API token" in livy.json()["msg"]
    assert await env.clusters[0].fake.all_apps() == []


def run_manager(
    tmp_path: Path, conf: dict[str, object], env_token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`spark-gateway manager` as a process; it stops before it would connect to any cluster."""
    path = tmp_path / "manager.yaml"
    cluster = {
        "name": "kube",
        "id": "kube",
        "type": "kubernetes",
        "namespaces": [{"name": "default", "id": "dflt"}],
    }
    path.write_text(yaml.safe_dump({"dataDir": str(tmp_path), "clusters": [cluster], **conf}))
    env = {k: v for k, v in os.environ.items() if k != "SPARK_MANAGER_API_TOKEN"}
    env["PYTHONPATH"] = str(REPO / "src")
    env["KUBECONFIG"] = str(tmp_path / "missing-kubeconfig")
    if env_token is not None:
        env["SPARK_MANAGER_API_TOKEN"] = env_token
    args = [sys.executable, "-m", "spark_gateway", "manager", "--conf", str(path), "--cluster", "kube"]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_a_manager_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    refused = run_manager(tmp_path, {})
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "sparkManager.apiTokenFile" in lines[0] and "SPARK_MANAGER_API_TOKEN" in lines[0]
    assert "sparkManager.allowUnauthenticatedApi" in lines[0]
    short = run_manager(tmp_path, {}, env_token="short")
    assert short.returncode == 2 and "at least 16 characters" in short.stderr
    missing = run_manager(tmp_path, {"sparkManager": {"apiTokenFile": str(tmp_path / "nope")}})
    assert missing.returncode == 2 and "sparkManager.apiTokenFile: cannot read" in missing.stderr
    # With a token (or explicitly unauthenticated) it gets past the check: to the missing kubeconfig.
    for conf, token in (({}, MANAGER_TOKEN), ({"sparkManager": {"allowUnauthenticatedApi": True}}, None)):
        started = run_manager(tmp_path, conf, env_token=token)
        assert started.returncode == 2 and "no kubeconfig found" in started.stderr, started.stderr


async def test_an_explicitly_unauthenticated_manager_serves_without_a_token(kube_env: KubeEnvFactory) -> None:
    env = await kube_env(sparkManager={"apiTokenFile": None, "allowUnauthenticatedApi": True})
    async with httpx.AsyncClient(base_url=manager_url(env), timeout=10) as client:
        assert (await client.get("/api/v1/default")).json() == []
    gw = await env.gateway()
    assert (await gw.client.post("/api/v1/applications", json=spark_app())).status_code == 201
