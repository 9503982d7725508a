"""Livy sessions in the console, in-process with a stand-in runner: listed with their type, their page
(statements, output, timeline, Kill), who sees them, and that looking does not keep them alive."""

from __future__ import annotations

import re
from typing import Any

import pytest

from spark_gateway.backends.base import StatusUpdate
from spark_gateway.db import session_repository as srepo
from spark_gateway.domain.states import AppState
from tests.api.conftest import Gateway, GatewayFactory
from tests.api.console.test_pages import listed_ids, livy_batch, v1_app
from tests.api.test_authorization import AUTH, as_user
from tests.support.session_runner import FakeRunner, launch_secret, ok


async def new_session(gw: Gateway, user: str | None = None, **body: Any) -> dict[str, Any]:
    headers = as_user(user) if user else {}
    response = await gw.client.post("/api/livy/sessions", json={"kind": "pyspark", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def kinds(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-gateway-id="([^"]+)" data-kind="([^"]+)"', html))


async def test_sessions_share_the_table_with_their_type(gateway: Gateway) -> None:
    batch = (await livy_batch(gateway, "nightly"))["appInfo"]["GatewayId"]
    session = await new_session(gateway, name="notebook")
    v1 = await v1_app(gateway, "report")
    sid, gid = session["id"], session["appInfo"]["GatewayId"]
    page = (await gateway.client.get("/ui/applications")).text
    assert listed_ids(page) == [v1, gid, batch]
    assert kinds(page) == {v1: "v1", gid: "session", batch: "batch"}
    assert f'href="/ui/sessions/{sid}">notebook</a>' in page and f"session {sid} · {gid}" in page
    assert "3 applications" in page
    assert listed_ids((await gateway.client.get("/ui/applications", params={"q": "NOTE"})).text) == [gid]
    # A session's driver application opens as the session.
    driver = await gateway.client.get(f"/ui/applications/{gid}", follow_redirects=False)
    assert driver.status_code == 307 and driver.headers["location"] == f"/ui/sessions/{sid}"


async def test_session_page_shows_statements_with_their_output(gateway: Gateway) -> None:
    session = await new_session(gateway)
    sid = session["id"]
    runner = FakeRunner(gateway.client, sid, await launch_secret(gateway.runtime, sid))
    await runner.register()
    codes = ["1 + 1", "SELECT 1 AS one", "1/0", "sleep(60)"]
    outputs = [
        ok("2"),
        {
            "status": "ok",
            "data": {"application/json": {"schema": {"fields": [{"name": "one"}]}, "data": [[1], [None]]}},
        },
        {
            "status": "error",
            "ename": "ZeroDivisionError",
            "evalue": "division by zero",
            "traceback": ["at <1>"],
        },
    ]
    for code in codes:
        response = await gateway.client.post(f"/api/livy/sessions/{sid}/statements", json={"code": code})
        assert response.status_code == 201
    for number, output in enumerate(outputs):
        assert (await runner.next())["statement"]["id"] == number
        await runner.result(number, output)
    await runner.next()  # the last one runs

    page = await gateway.client.get(f"/ui/sessions/{sid}")
    assert page.status_code == 200
    text = page.text
    assert re.findall(r'data-statement-id="(\d+)"', text) == ["0", "1", "2", "3"]
    assert '<pre class="code">1 + 1</pre>' in text and '<pre class="output">2</pre>' in text
    assert "<th>one</th>" in text and "<td>1</td>" in text and "<td>null</td>" in text
    assert "ZeroDivisionError: division by zero\nat &lt;1&gt;</pre>" in text
    assert 'statement-state">running<' in text and 'statement-state">available<' in text
    assert 'id="session-state">busy<' in text and 'hx-trigger="every 4s"' in text
    assert f'data-url="/api/livy/sessions/{sid}"' in text  # Kill: the API's DELETE
    assert f'data-url="/ui/applications/{session["appInfo"]["GatewayId"]}/log"' in text
    assert text.count('class="reached"') == 1  # created; the stand-in driver was never launched


async def test_a_finished_session_offers_no_kill_and_stops_refreshing(gateway: Gateway) -> None:
    session = await new_session(gateway)
    gid = session["appInfo"]["GatewayId"]
    sink = gateway.runtime.sink
    await sink.update(
        StatusUpdate(gid, AppState.SUBMITTED, status={"lastSubmissionAttemptTime": "2026-01-01T10:00:00Z"})
    )
    await sink.update(
        StatusUpdate(
            gid,
            AppState.FAILED,
            error_message="driver lost",
            status={"terminationTime": "2026-01-01T10:03:07Z"},
        )
    )
    text = (await gateway.client.get(f"/ui/sessions/{session['id']}")).text
    assert 'id="session-state">dead<' in text and "driver lost" in text
    assert 'id="kill"' not in text and "hx-trigger" not in text
    assert '<span id="duration">3m 07s</span>' in text
    assert "No statements yet." in text


async def test_the_console_does_not_keep_a_session_alive(gateway: Gateway) -> None:
    session = await new_session(gateway, heartbeatTimeoutInSecond=60)
    sid = session["id"]

    async def last_access() -> Any:
        async with gateway.runtime.db.transaction() as db:
            found = await srepo.get_session(db, sid)
        assert found is not None
        return found[0].last_access_at

    before = await last_access()
    assert (await gateway.client.get(f"/ui/sessions/{sid}")).status_code == 200
    assert await last_access() == before
    assert (await gateway.client.get(f"/api/livy/sessions/{sid}")).status_code == 200
    assert await last_access() > before  # the API's read is Livy's heartbeat


@pytest.fixture
async def authed(make_gateway: GatewayFactory) -> Gateway:
    gw: Gateway = await make_gateway(gateway=AUTH)
    return gw


async def test_each_user_sees_only_their_sessions(authed: Gateway) -> None:
    alices = await new_session(authed, "alice", name="alice-notebook")
    bobs = await new_session(authed, "bob", name="bob-notebook")
    mine = await authed.client.get("/ui/applications", headers=as_user("alice"))
    assert listed_ids(mine.text) == [alices["appInfo"]["GatewayId"]]
    theirs = await authed.client.get(f"/ui/sessions/{bobs['id']}", headers=as_user("alice"))
    assert theirs.status_code == 404 and "bob-notebook" not in theirs.text
    by_name = await authed.client.get("/ui/sessions/bob-notebook", headers=as_user("alice"))
    assert by_name.status_code == 404
    viewer = await authed.client.get(f"/ui/sessions/{bobs['id']}", headers=as_user("vic"))
    assert viewer.status_code == 200 and 'id="kill"' not in viewer.text  # may look, may not DELETE
    admin = await authed.client.get(f"/ui/sessions/{bobs['id']}", headers=as_user("root"))
    assert 'id="kill"' in admin.text
    owner = await authed.client.get(f"/ui/sessions/{alices['id']}", headers=as_user("alice"))
    assert 'id="kill"' in owner.text
    assert (await authed.client.get("/ui/sessions/999", headers=as_user("root"))).status_code == 404
