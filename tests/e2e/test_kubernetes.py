"""Real processes: two `spark-gateway manager` processes (one per cluster) and a `spark-gateway serve`.

The clusters are fake Kubernetes API servers (tests/fakes, real HTTP) running in this test process, with
their simulated operators; the processes share a fresh PostgreSQL database and reach the clusters through
a kubeconfig, as they would in production. Each manager serves its metrics on a port of its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.processes import GatewayProcess, ManagerProcess, env_with_this_source, free_port
from tests.fakes.k8s_server import FakeKubernetes

__all__ = ["ManagerProcess"]  # kept importable from here
pytestmark = pytest.mark.e2e
TOKEN = "e2e-manager-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def system(tmp_path: Path, fresh_db: str) -> Iterator[dict[str, Any]]:
    db_url = fresh_db
    fakes = {name: FakeKubernetes().start() for name in ("east", "west")}
    kubeconfigs = [str(fake.write_kubeconfig(tmp_path / f"kc-{n}", context=n)) for n, fake in fakes.items()]
    ports = {name: (free_port(), free_port()) for name in fakes}
    conf = {
        "dataDir": str(tmp_path / "data"),
        "database": {"url": db_url},
        "clusters": [
            {
                "name": name,
                "id": name,
                "type": "kubernetes",
                "routingWeight": weight,
                "namespaces": [{"name": "default", "id": "dflt"}],
            }
            for name, weight in (("east", 1.0), ("west", 3.0))
        ],
        "clusterRouter": {"type": "weightBased", "healthCacheSeconds": 0.2},
        "debugPorts": {n: {"sparkManagerPort": a, "metricsPort": m} for n, (a, m) in ports.items()},
        "gateway": {"sparkManagerHostnameTemplate": "127.0.0.1"},
        "sparkManager": {"logCaptureSeconds": 0.2, "watchTimeoutSeconds": 30},
    }
    conf_path = tmp_path / "spark-gateway.yaml"
    conf_path.write_text(yaml.safe_dump(conf))
    # The managers' API token reaches every process through the environment (as from a Secret).
    env = dict(os.environ, KUBECONFIG=os.pathsep.join(kubeconfigs), SPARK_MANAGER_API_TOKEN=TOKEN)
    env = env_with_this_source(env)
    managers = {n: ManagerProcess(conf_path, n, ports[n][0], tmp_path / f"{n}.log", env) for n in fakes}
    gateway = GatewayProcess(conf_path, free_port(), tmp_path / "gateway.log", env)
    try:
        for manager in managers.values():
            manager.start()
        gateway.start()
        for fake in fakes.values():
            asyncio.run(fake.operator.start_ticker(0.05))
        yield {"fakes": fakes, "managers": managers, "gateway": gateway, "ports": ports}
    finally:
        gateway.stop()
        for manager in managers.values():
            manager.stop()
        for fake in fakes.values():
            fake.stop()
    for fake in fakes.values():
        fake.assert_no_rejections()


def wait_batch(client: httpx.Client, batch_id: int, states: set[str], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/livy/batches/{batch_id}/state").json()["state"]
        if state in states:
            return str(state)
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} never reached {states}")


def test_two_clusters_two_managers_one_gateway(system: dict[str, Any]) -> None:
    fakes, managers = system["fakes"], system["managers"]
    with httpx.Client(base_url=system["gateway"].url, timeout=30) as client:
        batches = [
            client.post("/api/livy/batches", json={"file": "local:///opt/pi.py", "name": f"pi-{i}"}).json()
            for i in range(8)
        ]
        clusters = [b["appInfo"]["Cluster"] for b in batches]
        assert set(clusters) == {"east", "west"}  # weightBased 1:3 spreads them over both
        assert all(wait_batch(client, b["id"], {"success", "error", "dead"}) == "success" for b in batches)
        logs = client.get(f"/api/livy/batches/{batches[0]['id']}/log", params={"size": -1}).json()["log"]
        assert logs[-1].endswith("Successfully stopped SparkContext")

        # Metrics on their own port: nothing else is served there.
        east_api, east_metrics = system["ports"]["east"]
        metrics = httpx.get(f"http://127.0.0.1:{east_metrics}/metrics", headers=AUTH)
        assert "spark_application_count" in metrics.text
        assert httpx.get(f"http://127.0.0.1:{east_metrics}/api/v1/default", headers=AUTH).status_code == 404
        assert httpx.get(f"http://127.0.0.1:{east_api}/api/v1/default", headers=AUTH).status_code == 200
        # Without the token the managers answer nothing but /health and /ready.
        assert httpx.get(f"http://127.0.0.1:{east_metrics}/metrics").status_code == 401
        assert httpx.get(f"http://127.0.0.1:{east_api}/api/v1/default").status_code == 401

        # A manager stops gracefully; its cluster gets no traffic; work done meanwhile is caught up.
        assert managers["west"].stop() == -signal.SIGTERM  # uvicorn re-raises SIGTERM once it is done
        assert "Application shutdown complete" in managers["west"].log_path.read_text()
        during = [
            client.post("/api/livy/batches", json={"file": "local:///opt/pi.py"}).json() for _ in range(3)
        ]
        assert {b["appInfo"]["Cluster"] for b in during} == {"east"}
        west_batch = next(b for b in batches if b["appInfo"]["Cluster"] == "west")
        fakes["west"].call_sync(fakes["west"].remove_app, ("default", west_batch["appInfo"]["GatewayId"]))
        managers["west"].start()
        after = client.get(f"/api/livy/batches/{west_batch['id']}/log", params={"size": -1}).json()
        assert after["log"][-1].endswith("Successfully stopped SparkContext")  # saved before the pod went
        assert client.get(f"/api/livy/batches/{west_batch['id']}/state").json()["state"] == "success"
        for b in during:
            assert wait_batch(client, b["id"], {"success", "error", "dead"}) == "success"
