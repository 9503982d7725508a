"""A real job sees an allow-listed environment: none of the gateway's secrets, whatever is configured.

The gateway process holds a database password, `PGPASSWORD`, a service token map and htpasswd lines
in variables it really reads (its middlewares are configured from them), and a settings override. Two
local clusters run the same tiny PySpark script that prints its `os.environ`: one with the default
allow-list, one whose operator passes every variable (`passEnvironment: ["*"]`).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.api.security.helpers import htpasswd_line
from tests.e2e.conftest import GatewayStarter, wait_for_state

pytestmark = pytest.mark.spark

# The driver's Python process is where submitted code runs; it needs no SparkSession to read os.environ.
PRINT_ENV = """\
import json, os
import pyspark
print("ENV=" + json.dumps(dict(os.environ)), flush=True)
"""
TOKEN = "tok-svc-0123456789"
SECRETS = {
    "DB_USERNAME": "gateway",
    "DB_PASSWORD": "db-password-secret",
    "PGPASSWORD": "pg-password-secret",
    "GW_TOKENS": f'svc: "{TOKEN}"\n',
    "GW_HTPASSWD": htpasswd_line("alice", "alice-secret") + "\n",
    "SPARK_GATEWAY_DEFAULTLOGLINES": "4217",
    "SPARK_MANAGER_API_TOKEN": "manager-api-token-secret",
}
DISTINCTIVE = [
    SECRETS["DB_PASSWORD"],
    SECRETS["PGPASSWORD"],
    SECRETS["SPARK_MANAGER_API_TOKEN"],
    TOKEN,
    SECRETS["GW_HTPASSWD"].strip(),
]
AUTH = {"X-Spark-Gateway-User": "svc", "X-Spark-Gateway-Token": TOKEN}


def cluster(cluster_id: str, namespace: str, apps: Path, **local: object) -> dict[str, object]:
    return {
        "name": cluster_id,
        "id": cluster_id,
        "type": "local",
        "namespaces": [{"name": namespace, "id": "dflt"}],
        "local": {"allowedDirs": [str(apps)], "pollIntervalSeconds": 0.2, **local},
    }


def job_environment(client: httpx.Client, namespace: str, script: Path) -> dict[str, str]:
    response = client.post(
        "/api/livy/batches",
        json={"file": str(script)},
        headers={"X-Spark-Gateway-Livy-Namespace": namespace},
    )
    assert response.status_code == 201, response.text
    batch_id = response.json()["id"]
    assert wait_for_state(client, batch_id, {"success", "error", "dead"})[-1] == "success"
    log = client.get(f"/api/livy/batches/{batch_id}/log", params={"size": -1}).json()["log"]
    printed = [line for line in log if line.startswith("ENV=")]
    assert len(printed) == 1, "\n".join(log[-40:])
    environment: dict[str, str] = json.loads(printed[0][4:])
    return environment


def test_a_submitted_job_never_sees_the_gateways_secrets(
    start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    script = apps / "print_env.py"
    script.write_text(PRINT_ENV)
    gw = start_gateway(
        {
            "clusters": [
                cluster("plain", "default", apps),
                cluster("open", "open", apps, passEnvironment=["*"]),
            ],
            "gateway": {
                "middleware": [
                    {"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapEnv": "GW_TOKENS"}},
                    {"type": "BasicAuthMiddleware", "conf": {"htpasswdEnv": "GW_HTPASSWD"}},
                ]
            },
        },
        extra_env={**SECRETS, "TEAM_SETTING": "passed-when-asked"},
    )
    with httpx.Client(base_url=gw.url, timeout=30, headers=AUTH) as client:
        plain = job_environment(client, "default", script)
        opened = job_environment(client, "open", script)

    for env in (plain, opened):
        leaked = {k for k, v in env.items() if k in SECRETS or any(s in v for s in DISTINCTIVE)}
        assert leaked == set(), f"gateway secrets reached the job: {sorted(leaked)}"
        assert env["SPARK_LOCAL_IP"] == "127.0.0.1" and "PATH" in env and "SPARK_HOME" in env
    assert "TEAM_SETTING" not in plain  # not on the allow-list
    assert opened["TEAM_SETTING"] == "passed-when-asked"  # the operator passed everything else
