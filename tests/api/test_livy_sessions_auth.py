"""Sessions follow the batches' rules for who sees and changes what; the runner routes answer to the
session secret alone, whatever user credentials a request carries."""

from __future__ import annotations

import pytest

from tests.api.conftest import Gateway, GatewayFactory
from tests.api.test_authorization import AUTH, HEADER, as_user
from tests.support.session_runner import FakeRunner, launch_secret


@pytest.fixture
async def gw(make_gateway: GatewayFactory) -> Gateway:
    gateway: Gateway = await make_gateway(gateway=AUTH, sessions={"maxSessionsPerUser": 2})
    return gateway


async def session_of(gw: Gateway, user: str, **body: object) -> dict:
    response = await gw.client.post(
        "/api/livy/sessions", json={"kind": "pyspark", **body}, headers=as_user(user)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_owners_see_and_change_only_their_sessions(gw: Gateway) -> None:
    alice = await session_of(gw, "alice")
    assert alice["owner"] == "alice" and alice["proxyUser"] == "alice"
    sid = alice["id"]
    for method, path in (
        ("GET", f"/api/livy/sessions/{sid}/statements"),
        ("GET", f"/api/livy/sessions/{sid}/log"),
        ("POST", f"/api/livy/sessions/{sid}/statements"),
        ("POST", f"/api/livy/sessions/{sid}/statements/0/cancel"),
        ("POST", f"/api/livy/sessions/{sid}/completion"),
        ("DELETE", f"/api/livy/sessions/{sid}"),
        ("GET", f"/api/livy/sessions/{sid}"),
    ):
        response = await gw.client.request(method, path, json={"code": "1"}, headers=as_user("bob"))
        assert response.status_code == 404, (method, path, response.text)  # as if it did not exist
        assert response.json() == {"msg": f"Session '{sid}' not found."}
    listed = (await gw.client.get("/api/livy/sessions", headers=as_user("bob"))).json()
    assert listed["total"] == 0 and listed["sessions"] == []
    assert (await gw.client.get(f"/api/livy/sessions/{sid}", headers=as_user("vic"))).status_code == 200
    cancel = await gw.client.post(
        f"/api/livy/sessions/{sid}/statements/0/cancel", json={}, headers=as_user("vic")
    )
    assert cancel.status_code == 403
    assert (await gw.client.get("/api/livy/sessions")).status_code == 401
    impersonating = await gw.client.post(
        "/api/livy/sessions", json={"kind": "pyspark", "proxyUser": "alice"}, headers=as_user("bob")
    )
    assert impersonating.status_code == 403
    done = await gw.client.delete(f"/api/livy/sessions/{sid}", headers=as_user("root"))
    assert done.status_code == 200


async def test_per_user_limit(gw: Gateway) -> None:
    await session_of(gw, "alice")
    await session_of(gw, "alice")
    third = await gw.client.post("/api/livy/sessions", json={"kind": "pyspark"}, headers=as_user("alice"))
    assert third.status_code == 400 and "sessions.maxSessionsPerUser" in third.json()["msg"]
    await session_of(gw, "bob")


async def test_runner_routes_need_the_secret_not_a_user(gw: Gateway) -> None:
    sid = (await session_of(gw, "alice"))["id"]
    runner = FakeRunner(gw.client, sid, await launch_secret(gw.runtime, sid))
    assert (await runner.register())["shutdown"] is False  # no user credentials needed
    as_alice = await gw.client.get(
        "/api/livy/internal/session-runner/next",
        headers={HEADER: "alice", "X-Spark-Gateway-Session": str(sid)},
    )
    assert as_alice.status_code == 401  # the owner's credentials do not answer for the driver
    await gw.client.post(f"/api/livy/sessions/{sid}/statements", json={"code": "1"}, headers=as_user("alice"))
    assert (await runner.next())["statement"]["code"] == "1"
