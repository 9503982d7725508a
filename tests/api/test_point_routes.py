"""The polled reads dispatched beside FastAPI's router answer exactly as the routes do: errors mapped by
the app's handlers (503 + Retry-After for a database that is down), odd queries validated by FastAPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from spark_gateway.api.point_routes import log_query
from tests.api.conftest import Gateway

PI = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")


async def batch_with_log(gw: Gateway, lines: int = 5) -> dict[str, Any]:
    response = await gw.client.post("/api/livy/batches", json={"file": PI})
    assert response.status_code == 201, response.text
    batch: dict[str, Any] = response.json()
    await gw.runtime.sink.append_logs(batch["appInfo"]["GatewayId"], [f"line {i}" for i in range(lines)])
    return batch


def polled_paths(batch: dict[str, Any]) -> list[str]:
    gateway_id = batch["appInfo"]["GatewayId"]
    return [
        "/api/livy/batches/0",
        "/api/livy/batches/0/state",
        "/api/livy/batches/0/log?size=100",
        f"/api/v1/applications/{gateway_id}",
        f"/api/v1/applications/{gateway_id}/status",
    ]


async def test_a_database_that_refuses_connections_is_503_with_retry_after(gateway: Gateway) -> None:
    batch = await batch_with_log(gateway)

    async def refused(*_: object, **__: object) -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    gateway.runtime.db.direct.first = refused  # type: ignore[method-assign]
    for path in polled_paths(batch):
        response = await gateway.client.get(path)
        assert response.status_code == 503, (path, response.text)
        assert response.headers["retry-after"] == "3"
        assert response.headers["cache-control"] == "no-store"
        key = "msg" if path.startswith("/api/livy/") else "error"
        assert response.json() == {key: "database unavailable, retry later"}


async def test_an_unexpected_failure_is_a_json_500_that_leaks_nothing(gateway: Gateway) -> None:
    batch = await batch_with_log(gateway)

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret detail")

    gateway.runtime.db.direct.first = broken  # type: ignore[method-assign]
    transport = httpx.ASGITransport(app=gateway.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        for path in polled_paths(batch):
            response = await client.get(path)
            assert response.status_code == 500, path
            key = "msg" if path.startswith("/api/livy/") else "error"
            assert response.json() == {key: "internal error"}


async def test_polled_reads_keep_the_security_headers(gateway: Gateway) -> None:
    batch = await batch_with_log(gateway)
    for path in polled_paths(batch):
        response = await gateway.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
        assert "content-security-policy" in response.headers


@pytest.mark.parametrize(
    ("query", "status", "lines"),
    [
        ("size=2", 200, ["line 3", "line 4"]),
        ("from=1&size=2", 200, ["line 1", "line 2"]),
        ("size=007", 200, [f"line {i}" for i in range(5)]),
        ("size=1&size=2", 200, ["line 3", "line 4"]),  # FastAPI: the last one counts
        ("size=+2", 200, ["line 3", "line 4"]),
        ("size=2&unknown=x", 200, ["line 3", "line 4"]),
        ("size=abc", 400, None),
        ("from=", 400, None),
        ("size=99999999999999999999999", 200, [f"line {i}" for i in range(5)]),
    ],
)
async def test_log_queries_are_read_as_fastapi_reads_them(
    gateway: Gateway, query: str, status: int, lines: list[str] | None
) -> None:
    await batch_with_log(gateway)
    response = await gateway.client.get(f"/api/livy/batches/0/log?{query}")
    assert response.status_code == status, response.text
    if lines is None:
        assert "msg" in response.json()
    else:
        assert response.json()["log"] == lines


async def test_other_methods_on_a_polled_path_answer_as_before(gateway: Gateway) -> None:
    await batch_with_log(gateway)
    assert (await gateway.client.head("/api/livy/batches/0/state")).status_code == 405
    assert (await gateway.client.put("/api/livy/batches/0", json={})).status_code == 405


async def test_livy_paths_are_404_when_livy_is_off(make_gateway: Any) -> None:
    gw = await make_gateway(livy={"enable": False})
    response = await gw.client.get("/api/livy/batches/0/state")
    assert response.status_code == 404


def test_only_plain_integer_log_queries_are_read_beside_fastapi() -> None:
    assert log_query(b"") == {}
    assert log_query(b"from=-1&size=10") == {"from_": -1, "size": 10}
    for other in (b"size=1&size=2", b"size=+1", b"size=", b"doAs=x", b"size=1%30", b"size=1&"):
        assert log_query(other) is None
