"""The native `/api/v1/applications` API: shapes as in the reference gateway, correct 4xx codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Gateway
from tests.support.crd import validate_spark_application

PI = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")


def spark_app(**meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"namespace": "default", "name": "my-pi", "labels": {"team": "data"}, **meta},
        "spec": {
            "type": "Python",
            "mode": "cluster",
            "sparkVersion": "4.0.0",
            "mainApplicationFile": PI,
            "arguments": ["2"],
            "driver": {"cores": 1, "memory": "512m"},
            "executor": {"instances": 1, "cores": 1, "memory": "512m"},
        },
    }


async def create(gw: Gateway, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await gw.client.post("/api/v1/applications", json=body or spark_app())
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_returns_gateway_application(gateway: Gateway) -> None:
    created = await create(gateway)
    assert set(created) == {"sparkApplication", "gatewayId", "cluster", "user", "sparkLogURLs"}
    app = created["sparkApplication"]
    assert created["gatewayId"].startswith("local-dflt-")
    assert app["metadata"]["name"] == created["gatewayId"]
    assert app["metadata"]["annotations"]["applicationName"] == "my-pi"
    assert app["metadata"]["labels"]["team"] == "data"
    assert app["metadata"]["labels"]["spark-gateway/cluster"] == "local"
    assert created["cluster"] == "local"
    assert app["status"]["applicationState"] == {"state": ""}
    assert set(created["sparkLogURLs"]) == {"sparkUI", "sparkHistoryUI", "logsUI"}
    validate_spark_application({k: v for k, v in app.items() if k != "status"})


async def test_get_status_list_logs_delete(gateway: Gateway) -> None:
    gid = (await create(gateway))["gatewayId"]
    got = (await gateway.client.get(f"/api/v1/applications/{gid}")).json()
    assert got["gatewayId"] == gid
    status = (await gateway.client.get(f"/api/v1/applications/{gid}/status")).json()
    assert status["applicationState"]["state"] == ""
    listing = (await gateway.client.get("/api/v1/applications", params={"cluster": "local"})).json()
    assert [a["gatewayId"] for a in listing] == [gid]
    assert (await gateway.client.get("/api/v1/applications", params={"namespace": "other"})).json() == []
    await gateway.runtime.sink.append_logs(gid, ["a", "b", "c"])
    logs = await gateway.client.get(f"/api/v1/applications/{gid}/logs", params={"lines": 2})
    assert logs.json() == "b\nc"
    deleted = await gateway.client.delete(f"/api/v1/applications/{gid}")
    assert deleted.json() == {"status": "success"}
    assert (await gateway.client.get(f"/api/v1/applications/{gid}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{oops", 400, "not valid JSON"),
        (b"[]", 400, "SparkApplication JSON object"),
        (b'{"metadata": {"namespace": "default"}, "spec": {"type": "Cobol"}}', 422, "spec.type"),
        (
            b'{"metadata": {}, "spec": {"type": "Python", "sparkVersion": "4", "mainApplicationFile": "/x.py"}}',
            400,
            "must have a Namespace",
        ),
        (
            b'{"metadata": {"namespace": "default", "labels": {"a": "b c"}}, "spec": {"type": "Python", "sparkVersion": "4", "mainApplicationFile": "/x.py"}}',
            400,
            "label",
        ),
    ],
)
async def test_bad_submissions(gateway: Gateway, body: bytes, status: int, fragment: str) -> None:
    response = await gateway.client.post("/api/v1/applications", content=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


@pytest.mark.parametrize(
    ("gid", "status"),
    [
        ("not-an-id", 400),
        ("local-dflt-0190f0f0-0000-7000-8000-000000000000", 404),
        ("other-dflt-0190f0f0-0000-7000-8000-000000000000", 404),
    ],
)
async def test_bad_or_unknown_ids(gateway: Gateway, gid: str, status: int) -> None:
    for path in ("", "/status", "/logs"):
        response = await gateway.client.get(f"/api/v1/applications/{gid}{path}")
        assert response.status_code == status
        assert "error" in response.json()
    assert (await gateway.client.delete(f"/api/v1/applications/{gid}")).status_code == status


async def test_unknown_cluster_filter_is_400(gateway: Gateway) -> None:
    response = await gateway.client.get("/api/v1/applications", params={"cluster": "nope"})
    assert response.status_code == 400


async def test_health_and_docs(gateway: Gateway) -> None:
    assert (await gateway.client.get("/health")).json() == {"status": "OK"}
    assert (await gateway.client.get("/ready")).json()["database"] == "ok"
    assert (await gateway.client.get("/docs")).status_code == 200
    assert "/api/livy/batches" in (await gateway.client.get("/openapi.json")).json()["paths"]


async def test_metrics_count_applications_by_cluster_and_state(gateway: Gateway) -> None:
    await create(gateway)
    gid = (await create(gateway))["gatewayId"]
    await gateway.client.delete(f"/api/v1/applications/{gid}")
    response = await gateway.client.get("/metrics")
    assert response.status_code == 200
    assert 'spark_gateway_applications{cluster="local",state="NEW"} 1.0' in response.text
