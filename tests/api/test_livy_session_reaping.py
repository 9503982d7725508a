"""Session reaping: driver exits, heartbeat timeouts, TTLs, idle timeouts, and limits on sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from spark_gateway.backends.base import StatusUpdate
from spark_gateway.db.models import LivySessionRow
from spark_gateway.domain.states import AppState
from spark_gateway.services.session_reaper import SessionReaper
from tests.api.conftest import Gateway, GatewayFactory
from tests.support.session_runner import FakeRunner, launch_secret


async def create(gw: Gateway, **body: object) -> int:
    response = await gw.client.post("/api/livy/sessions", json={"kind": "pyspark", **body})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def registered(gw: Gateway, sid: int) -> FakeRunner:
    runner = FakeRunner(gw.client, sid, await launch_secret(gw.runtime, sid))
    await runner.register()
    return runner


async def state(gw: Gateway, sid: int) -> str:
    return str((await gw.client.get(f"/api/livy/sessions/{sid}/state")).json()["state"])


async def log_text(gw: Gateway, sid: int) -> str:
    return "\n".join((await gw.client.get(f"/api/livy/sessions/{sid}/log")).json()["log"])


async def test_ttl_and_idle_timeouts_stop_sessions_but_never_a_busy_one(gateway: Gateway) -> None:
    ttl = await create(gateway, ttl="1ms")
    idle = await create(gateway, idleTimeout="1ms")
    busy = await create(gateway, idleTimeout="1ms")
    kept = await create(gateway)
    for sid in (idle, busy, kept):
        await registered(gateway, sid)
    await gateway.client.post(f"/api/livy/sessions/{busy}/statements", json={"code": "long()"})
    assert await SessionReaper(gateway.runtime).run_once() == 2
    assert await state(gateway, ttl) == "dead"
    assert "session stopped: ttl of 0.001s expired" in await log_text(gateway, ttl)
    assert await state(gateway, idle) == "dead"
    assert "session stopped: idle for" in await log_text(gateway, idle)
    assert await state(gateway, busy) == "busy"
    assert await state(gateway, kept) == "idle"


async def test_heartbeat_timeout_counts_from_the_last_client_request(gateway: Gateway) -> None:
    sid = await create(gateway, heartbeatTimeoutInSecond=3600)
    assert await SessionReaper(gateway.runtime).run_once() == 0
    assert (await gateway.client.get(f"/api/livy/sessions/{sid}")).status_code == 200
    assert await SessionReaper(gateway.runtime).run_once() == 0
    async with gateway.runtime.db.transaction() as session:  # an hour without a request
        await session.execute(
            update(LivySessionRow).values(last_access_at=datetime.now(UTC) - timedelta(seconds=3601))
        )
    assert await SessionReaper(gateway.runtime).run_once() == 1
    assert await state(gateway, sid) == "dead"
    assert "no client heartbeat" in await log_text(gateway, sid)


async def test_a_driver_that_exits_ends_the_session_and_its_open_statements(gateway: Gateway) -> None:
    sid = await create(gateway)
    runner = await registered(gateway, sid)
    await gateway.client.post(f"/api/livy/sessions/{sid}/statements", json={"code": "1"})
    await runner.next()
    gid = (await gateway.client.get(f"/api/livy/sessions/{sid}")).json()["appInfo"]["GatewayId"]
    await gateway.runtime.sink.update(StatusUpdate(gid, AppState.SUBMITTED))
    await gateway.runtime.sink.update(
        StatusUpdate(gid, AppState.FAILED, error_message="driver exited with 1")
    )
    assert await state(gateway, sid) == "dead"
    assert await SessionReaper(gateway.runtime).run_once() == 1
    statement = (await gateway.client.get(f"/api/livy/sessions/{sid}/statements/0")).json()
    assert (
        statement["state"] == "error"
        and statement["output"]["evalue"] == "Session dead: driver exited with 1"
    )
    response = await gateway.client.post(f"/api/livy/sessions/{sid}/statements", json={"code": "1"})
    assert (
        response.status_code == 400 and response.json()["msg"] == "requirement failed: Session isn't active."
    )
    assert (await runner.heartbeat())["shutdown"] is True


async def test_session_limits_per_cluster_and_user(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(sessions={"maxSessionsPerCluster": 2})
    await create(gw)
    last = await create(gw)
    response = await gw.client.post("/api/livy/sessions", json={"kind": "pyspark"})
    assert response.status_code == 400
    assert "sessions.maxSessionsPerCluster" in response.json()["msg"]
    assert (await gw.client.delete(f"/api/livy/sessions/{last}")).status_code == 200
    await create(gw)


async def test_a_silent_runner_gets_its_session_stopped_once_the_gateway_has_been_up_long_enough(
    gateway: Gateway,
) -> None:
    sid = await create(gateway)
    await registered(gateway, sid)
    async with gateway.runtime.db.transaction() as session:  # no call from the runner for an hour
        await session.execute(
            update(LivySessionRow).values(runner_seen_at=datetime.now(UTC) - timedelta(seconds=3600))
        )
    assert await SessionReaper(gateway.runtime).run_once() == 0  # just started: runners may be retrying
    long_up = SessionReaper(gateway.runtime, started=0.0)
    assert await long_up.run_once() == 1
    assert await state(gateway, sid) == "dead"
    assert "statement runner has not called in" in await log_text(gateway, sid)
