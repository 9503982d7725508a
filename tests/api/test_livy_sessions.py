"""The Livy session API through HTTP and the database, with a stand-in runner (no Spark needed)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Gateway
from tests.support.session_runner import FakeRunner, launch_secret, ok

SESSION_FIELDS = [
    "id", "name", "appId", "owner", "proxyUser", "state", "kind", "appInfo", "log", "ttl", "idleTimeout",
    "driverMemory", "driverCores", "executorMemory", "executorCores", "conf", "archives", "files",
    "heartbeatTimeoutInSecond", "jars", "numExecutors", "pyFiles", "queue",
]  # fmt: skip


async def create(gw: Gateway, **body: object) -> dict:
    response = await gw.client.post("/api/livy/sessions", json={"kind": "pyspark", **body})
    assert response.status_code == 201, response.text
    return response.json()


async def runner_for(gw: Gateway, session_id: int) -> FakeRunner:
    return FakeRunner(gw.client, session_id, await launch_secret(gw.runtime, session_id))


async def statement(gw: Gateway, sid: int, code: str, **extra: object) -> dict:
    response = await gw.client.post(f"/api/livy/sessions/{sid}/statements", json={"code": code, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_answers_livy_session_info(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/api/livy/sessions", json={"kind": "python", "driverMemory": "1g", "conf": {"spark.x": "1"}}
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/livy/sessions/0"
    body = response.json()
    assert list(body) == SESSION_FIELDS
    assert body["id"] == 0 and body["kind"] == "pyspark" and body["state"] == "starting"
    assert body["driverMemory"] == "1g" and body["driverCores"] == 0 and body["conf"] == {"spark.x": "1"}
    assert (await create(gateway))["id"] == 1
    listed = (await gateway.client.get("/api/livy/sessions", params={"from": 1})).json()
    assert listed["from"] == 1 and listed["total"] == 2 and [s["id"] for s in listed["sessions"]] == [1]
    state = await gateway.client.get("/api/livy/sessions/0/state")
    assert state.json() == {"id": 0, "state": "starting"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"kind": "spark"},
            "Session kind 'spark' is not supported by this gateway: use one of pyspark, sql, shared",
        ),
        ({"kind": "sparkr"}, "use one of pyspark, sql, shared"),
        ({"kind": "cobol"}, "Unknown kind 'cobol'"),
        ({"kind": "pyspark", "ttl": "10 parsecs"}, "Invalid time string"),
        ({"kind": "pyspark", "idleTimeout": "5y"}, 'Invalid suffix: "y"'),
        ({"kind": "pyspark", "heartbeatTimeoutInSecond": -1}, "heartbeatTimeoutInSecond"),
        ({"kind": "pyspark", "name": "123"}, "Invalid session name"),
        ({"kind": "pyspark", "bogus": 1}, 'Unrecognized field "bogus"'),
    ],
)
async def test_bad_requests_get_a_clear_400(gateway: Gateway, body: dict, message: str) -> None:
    response = await gateway.client.post("/api/livy/sessions", json=body)
    assert response.status_code == 400
    assert message in response.json()["msg"]
    assert (await gateway.client.get("/api/livy/sessions")).json()["total"] == 0


async def test_statement_flow_through_the_runner_protocol(gateway: Gateway) -> None:
    sid = (await create(gateway))["id"]
    early = await statement(gateway, sid, "1+1")  # queued while the driver starts (Livy: 500)
    assert early["id"] == 0 and early["state"] == "waiting" and early["output"] is None
    runner = await runner_for(gateway, sid)
    assert (await runner.register()) == {"shutdown": False}
    claimed = await runner.next()
    assert claimed["statement"] == {"id": 0, "code": "1+1", "kind": "pyspark"}
    assert (await gateway.client.get(f"/api/livy/sessions/{sid}/state")).json()["state"] == "busy"
    assert (await runner.next())["statement"]["id"] == 0  # a claimed, unanswered statement comes again
    await runner.heartbeat(0, 0.5)
    running = (await gateway.client.get(f"/api/livy/sessions/{sid}/statements/0")).json()
    assert running["state"] == "running" and running["progress"] == 0.5 and running["started"] > 0
    await runner.result(0, ok("2"))
    await runner.result(0, ok("stale"))  # a repeated post changes nothing
    done = (await gateway.client.get(f"/api/livy/sessions/{sid}/statements/0")).json()
    assert done["state"] == "available" and done["progress"] == 1.0
    assert done["output"] == {"status": "ok", "execution_count": 0, "data": {"text/plain": "2"}}
    session = (await gateway.client.get(f"/api/livy/sessions/{sid}")).json()
    assert session["state"] == "idle" and session["appId"] == f"local-{sid}"
    await statement(gateway, sid, "x = 1")
    page = (await gateway.client.get(f"/api/livy/sessions/{sid}/statements", params={"order": "desc"})).json()
    assert page["total_statements"] == 2 and [s["id"] for s in page["statements"]] == [1, 0]
    missing = await gateway.client.get(f"/api/livy/sessions/{sid}/statements/7")
    assert missing.status_code == 404 and missing.json() == {"msg": "Statement not found"}


async def test_cancel_waiting_and_running_statements(gateway: Gateway) -> None:
    sid = (await create(gateway))["id"]
    runner = await runner_for(gateway, sid)
    await runner.register()
    await statement(gateway, sid, "long()")
    await statement(gateway, sid, "never()")
    assert (await runner.next())["statement"]["id"] == 0
    for target in (1, 0, 99, "x"):
        response = await gateway.client.post(f"/api/livy/sessions/{sid}/statements/{target}/cancel")
        assert response.status_code == 200 and response.json() == {"msg": "canceled"}
    waiting = (await gateway.client.get(f"/api/livy/sessions/{sid}/statements/1")).json()
    assert waiting["state"] == "cancelled" and waiting["output"] is None
    assert (await gateway.client.get(f"/api/livy/sessions/{sid}/statements/0")).json()[
        "state"
    ] == "cancelling"
    assert (await runner.heartbeat(0, 0.1))["cancel"] == [0]
    await runner.result(
        0, {"status": "error", "ename": "KeyboardInterrupt", "evalue": "", "traceback": []}, True
    )
    assert (await gateway.client.get(f"/api/livy/sessions/{sid}/statements/0")).json()["state"] == "cancelled"
    assert (await runner.next())["statement"] is None  # the cancelled waiting one never runs
    assert (await gateway.client.get(f"/api/livy/sessions/{sid}/state")).json()["state"] == "idle"


async def test_shared_sessions_need_a_statement_kind(gateway: Gateway) -> None:
    sid = (await create(gateway, kind="shared"))["id"]
    response = await gateway.client.post(f"/api/livy/sessions/{sid}/statements", json={"code": "1"})
    assert response.status_code == 400
    assert response.json()["msg"] == "Code type should be specified if session kind is shared"
    assert (await statement(gateway, sid, "select 1", kind="sql"))["id"] == 0
    bad = await gateway.client.post(
        f"/api/livy/sessions/{sid}/statements", json={"code": "1", "kind": "spark"}
    )
    assert bad.status_code == 400 and "pyspark, sql" in bad.json()["msg"]
    runner = await runner_for(gateway, sid)
    await runner.register()
    assert (await runner.next())["statement"]["kind"] == "sql"


async def test_a_session_secret_opens_only_its_own_session(gateway: Gateway) -> None:
    first, second = (await create(gateway))["id"], (await create(gateway))["id"]
    mine = await runner_for(gateway, first)
    await runner_for(gateway, second)
    await statement(gateway, second, "secret_of_second = 1")
    impostor = FakeRunner(gateway.client, second, mine.secret)
    for method, name, body in (("POST", "register", {}), ("GET", "next", None), ("POST", "heartbeat", {})):
        response = await impostor.call(method, name, body)
        assert response.status_code == 401, (name, response.text)
    nobody = FakeRunner(gateway.client, first, "not-the-secret")
    assert (await nobody.call("GET", "next")).status_code == 401
    no_headers = await gateway.client.get("/api/livy/internal/session-runner/next")
    assert no_headers.status_code == 401
    assert (await mine.next())["statement"] is None  # the other session's statement never reaches it


async def test_outputs_are_bounded_with_a_marker(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = await make_gateway(sessions={"maxOutputBytes": 2048})
    sid = (await create(gw))["id"]
    runner = await runner_for(gw, sid)
    await runner.register()
    await statement(gw, sid, "print('x' * 10**6)")
    await runner.next()
    await runner.result(0, ok("é" * 5000))
    text = (await gw.client.get(f"/api/livy/sessions/{sid}/statements/0")).json()["output"]["data"][
        "text/plain"
    ]
    assert text.startswith("é" * 1024) and text.endswith(
        "[output truncated by spark-gateway: 7952 more bytes]"
    )


async def test_delete_stops_the_session_and_removes_it(gateway: Gateway) -> None:
    sid = (await create(gateway))["id"]
    runner = await runner_for(gateway, sid)
    await runner.register()
    await statement(gateway, sid, "1")
    response = await gateway.client.delete(f"/api/livy/sessions/{sid}")
    assert response.status_code == 200 and response.json() == {"msg": "deleted"}
    assert (await gateway.client.get(f"/api/livy/sessions/{sid}")).status_code == 404
    assert (await gateway.client.delete(f"/api/livy/sessions/{sid}")).status_code == 404
    assert (await runner.heartbeat())["shutdown"] is True
    assert (await runner.next()) == {"statement": None, "shutdown": True}
