"""A Spark standalone master and worker (real processes) as the local cluster's master."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import GatewayStarter, wait_for_state
from tests.e2e.processes import StartedProcess, free_port, log_contains

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.spark


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@pytest.fixture
def standalone_master(tmp_path: Path, spark_env: dict[str, str]) -> Iterator[str]:
    env = dict(spark_env, SPARK_HOME=str(spark_home()), SPARK_WORKER_DIR=str(tmp_path / "work"))
    spark_class = str(spark_home() / "bin" / "spark-class")
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    master_argv = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
    master_argv += ["--port", str(port), "--webui-port", str(free_port())]
    worker_argv = [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1"]
    worker_argv += ["--cores", "1", "--memory", "1g", "--webui-port", str(free_port())]
    master_log, worker_log = tmp_path / "master.log", tmp_path / "worker.log"
    master = StartedProcess(
        master_argv, master_log, env, log_contains(master_log, "I have been elected leader"), new_session=True
    )
    ready = log_contains(worker_log, "Successfully registered with master")
    worker = StartedProcess(worker_argv, worker_log, env, ready, new_session=True)
    try:
        master.start(timeout=90)
        worker.start(timeout=90)
        yield url
    finally:
        for process in (master, worker):
            process.stop(signal.SIGKILL)


def test_batch_runs_on_a_standalone_master(standalone_master: str, start_gateway: GatewayStarter) -> None:
    gw = start_gateway(
        {
            "clusters": [
                {
                    "name": "standalone",
                    "id": "sa",
                    "type": "local",
                    "namespaces": [{"name": "default", "id": "dflt"}],
                    "local": {"sparkMaster": standalone_master, "maxConcurrentJobs": 1},
                }
            ]
        }
    )
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        response = client.post(
            "/api/livy/batches",
            json={
                "file": str(EXAMPLES / "pi.py"),
                "args": ["2"],
                "executorMemory": "512m",
                "executorCores": 1,
            },
        )
        assert response.status_code == 201, response.text
        batch = response.json()
        assert batch["appInfo"]["GatewayId"].startswith("sa-dflt-")
        seen = wait_for_state(client, batch["id"], {"success", "error", "dead"})
        assert seen[-1] == "success", gw.log_path.read_text()[-3000:]
        view = client.get(f"/api/livy/batches/{batch['id']}").json()
        assert view["appId"].startswith("app-")
        log = client.get(f"/api/livy/batches/{batch['id']}/log", params={"size": -1}).json()["log"]
        assert any("Pi is roughly" in line for line in log)
