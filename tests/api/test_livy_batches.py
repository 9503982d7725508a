"""The Livy batch API, end to end through HTTP and the database (no Spark needed: nothing is admitted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import Gateway, GatewayFactory

PI = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")


async def create(gw: Gateway, **body: object) -> dict:
    response = await gw.client.post("/api/livy/batches", json={"file": PI, **body})
    assert response.status_code == 201, response.text
    return response.json()


async def test_empty_list(gateway: Gateway) -> None:
    response = await gateway.client.get("/api/livy/batches")
    assert response.status_code == 200
    assert response.json() == {"from": 0, "total": 0, "sessions": []}


async def test_create_returns_201_location_and_livy_shape(gateway: Gateway) -> None:
    response = await gateway.client.post("/api/livy/batches", json={"file": PI, "name": "pi", "args": ["4"]})
    assert response.status_code == 201
    assert response.headers["location"] == "/api/livy/batches/0"
    body = response.json()
    assert list(body) == ["id", "name", "owner", "proxyUser", "state", "appId", "appInfo", "log"]
    assert body["id"] == 0
    assert body["name"] == "pi"
    assert body["state"] == "not_started"
    assert body["appInfo"]["GatewayId"].startswith("local-dflt-")
    assert body["appInfo"]["Cluster"] == "local"
    assert set(body["appInfo"]) >= {"driverLogUrl", "sparkUiUrl", "sparkHistoryUrl"}
    assert body["log"] == []
    second = await create(gateway)
    assert second["id"] == 1


async def test_get_state_and_list_paging(gateway: Gateway) -> None:
    for _ in range(3):
        await create(gateway)
    one = (await gateway.client.get("/api/livy/batches/1")).json()
    assert one["id"] == 1
    assert (await gateway.client.get("/api/livy/batches/1/state")).json() == {"id": 1, "state": "not_started"}
    page = (await gateway.client.get("/api/livy/batches", params={"from": 1, "size": 1})).json()
    assert page["from"] == 1 and page["total"] == 3
    assert [s["id"] for s in page["sessions"]] == [1]
    assert (await gateway.client.get("/api/livy/batches", params={"from": 5})).json()["sessions"] == []


async def test_batches_can_be_found_by_name(gateway: Gateway) -> None:
    await create(gateway, name="nightly-etl")
    response = await gateway.client.get("/api/livy/batches/nightly-etl/state")
    assert response.json() == {"id": 0, "state": "not_started"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"file": "x.py", "ttl": "5m"}', 'Unrecognized field "ttl"'),
        (b"{}", "File is required."),
        (b'{"file": 42}', "file"),
        (b'{"file": "/tmp/x.py", "driverCores": "two"}', "driverCores"),
        (b"[1, 2]", "JSON object"),
        (b'{"file": "/etc/passwd.py"}', "/etc/passwd.py"),
        (b'{"file": "relative.py"}', "relative.py"),
        (b'{"file": "%s", "conf": {"spark.master": "yarn"}}' % PI.encode(), "spark.master"),
        (b'{"file": "%s", "name": "123"}' % PI.encode(), "Invalid session name"),
    ],
)
async def test_bad_requests_are_400_with_msg(gateway: Gateway, body: bytes, fragment: str) -> None:
    response = await gateway.client.post(
        "/api/livy/batches", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert fragment in response.json()["msg"]
    assert (await gateway.client.get("/api/livy/batches")).json()["total"] == 0


async def test_body_is_read_as_json_whatever_the_content_type(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/api/livy/batches", content=f'{{"file": "{PI}"}}', headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 201


async def test_namespace_header_must_name_a_configured_namespace(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/api/livy/batches", json={"file": PI}, headers={"X-Spark-Gateway-Livy-Namespace": "other"}
    )
    assert response.status_code == 400
    assert "namespace 'other'" in response.json()["msg"]
    response = await gateway.client.post(
        "/api/livy/batches", json={"file": PI}, headers={"X-Spark-Gateway-Livy-Namespace": "default"}
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "path", ["/api/livy/batches/99", "/api/livy/batches/99/state", "/api/livy/batches/99/log"]
)
async def test_unknown_batch_is_404_livy_message(gateway: Gateway, path: str) -> None:
    response = await gateway.client.get(path)
    assert response.status_code == 404
    assert response.json() == {"msg": "Session '99' not found."}


@pytest.mark.parametrize("params", [{"from": "abc"}, {"size": "x"}])
async def test_bad_paging_is_400(gateway: Gateway, params: dict) -> None:
    response = await gateway.client.get("/api/livy/batches", params=params)
    assert response.status_code == 400
    assert "msg" in response.json()


async def test_log_paging_follows_livy(gateway: Gateway) -> None:
    batch = await create(gateway)
    await gateway.runtime.sink.append_logs(batch["appInfo"]["GatewayId"], [f"line {i}" for i in range(150)])
    default = (await gateway.client.get("/api/livy/batches/0/log")).json()
    assert default["id"] == 0 and default["total"] == 150
    assert default["from"] == 50 and default["size"] == 100
    assert default["log"][0] == "line 50" and default["log"][-1] == "line 149"
    tail = (await gateway.client.get("/api/livy/batches/0/log", params={"size": 3})).json()
    assert tail["log"] == ["line 147", "line 148", "line 149"] and tail["from"] == 147
    window = (await gateway.client.get("/api/livy/batches/0/log", params={"from": 10, "size": 2})).json()
    assert window["log"] == ["line 10", "line 11"] and window["size"] == 2
    everything = (await gateway.client.get("/api/livy/batches/0/log", params={"size": -1})).json()
    assert len(everything["log"]) == 150 and everything["from"] == 0
    batch_view = (await gateway.client.get("/api/livy/batches/0")).json()
    assert batch_view["log"] == [f"line {i}" for i in range(140, 150)]


async def test_delete_then_404(gateway: Gateway) -> None:
    await create(gateway)
    response = await gateway.client.delete("/api/livy/batches/0")
    assert response.status_code == 200
    assert response.json() == {"msg": "deleted"}
    response = await gateway.client.get("/api/livy/batches/0")
    assert response.status_code == 404
    assert response.json() == {"msg": "Session '0' not found."}
    assert (await gateway.client.delete("/api/livy/batches/0")).status_code == 404
    assert (await gateway.client.get("/api/livy/batches")).json()["total"] == 0
    assert (await create(gateway))["id"] == 1


async def test_version(gateway: Gateway) -> None:
    body = (await gateway.client.get("/api/livy/version")).json()
    assert body["version"].startswith("0.9.0")


async def test_ids_and_batches_survive_a_restart(make_gateway: GatewayFactory) -> None:
    first = await make_gateway()
    await create(first)
    await create(first)
    await first.client.delete("/api/livy/batches/0")
    second = await make_gateway()
    listing = (await second.client.get("/api/livy/batches")).json()
    assert [s["id"] for s in listing["sessions"]] == [1]
    assert (await create(second))["id"] == 2


async def test_seed_dialect(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(livy={"dialect": "spark-gateway"})
    await create(gw)
    log = (await gw.client.get("/api/livy/batches/0/log")).json()
    assert log["from"] == -1


async def test_idempotency_key_returns_the_original_batch(gateway: Gateway) -> None:
    headers = {"Idempotency-Key": "retry-123"}
    first = await gateway.client.post("/api/livy/batches", json={"file": PI}, headers=headers)
    again = await gateway.client.post("/api/livy/batches", json={"file": PI}, headers=headers)
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert (await gateway.client.get("/api/livy/batches")).json()["total"] == 1


async def test_a_default_namespace_no_cluster_offers_is_a_clear_400(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(livy={"defaultNamespace": "livy-namespace"})  # loads, with a warning
    refused = await gw.client.post("/api/livy/batches", json={"file": PI})
    assert refused.status_code == 400
    assert "livy.defaultNamespace 'livy-namespace' is offered by no cluster" in refused.json()["msg"]
    named = await gw.client.post(
        "/api/livy/batches", json={"file": PI}, headers={"X-Spark-Gateway-Livy-Namespace": "default"}
    )
    assert named.status_code == 201, named.text
