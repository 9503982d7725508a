"""A Livy session on a Spark standalone master: the runner's driver in client mode, executors on a worker."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import GatewayStarter
from tests.e2e.test_standalone import standalone_master as standalone_master  # the fixture
from tests.support.livy_sessions import run, start_session, text

pytestmark = [pytest.mark.spark, pytest.mark.e2e, pytest.mark.timeout(400)]


def test_session_runs_statements_on_a_standalone_master(
    standalone_master: str, start_gateway: GatewayStarter
) -> None:
    cluster = {
        "name": "standalone",
        "id": "sa",
        "type": "local",
        "namespaces": [{"name": "default", "id": "dflt"}],
        "local": {"sparkMaster": standalone_master, "maxConcurrentJobs": 1},
    }
    gw = start_gateway({"clusters": [cluster]})
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        sid = start_session(client, executorMemory="512m", executorCores=1)
        session = client.get(f"/api/livy/sessions/{sid}").json()
        assert session["appId"].startswith("app-")  # a standalone application id, not local-…
        assert text(run(client, sid, "sc.master")) == f"'{standalone_master}'"
        assert text(run(client, sid, "sc.parallelize(range(100), 2).map(lambda x: x * 2).sum()")) == "9900"
        assert client.delete(f"/api/livy/sessions/{sid}").status_code == 200
