"""Livy sessions in a real Chromium against a real gateway: one real pyspark session (a Spark driver
running the statement runner) and, for the other user, a session and a batch on a stand-in cluster
whose `spark-submit` is /bin/false (they fail at once, so only one JVM runs).

A session is listed with its type, its page shows its statements with their outputs and the driver
log, each user sees only their own sessions, and Kill (after the confirmation, with Livy's CSRF rule
on) stops it through the API's DELETE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.browser.conftest import (
    Browser,
    authorization,
    basic_auth,
    local_cluster,
    wait_until,
)
from tests.e2e.conftest import GatewayProcess
from tests.support.livy_sessions import run, start_session, text

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.timeout(1200)]

PI = str(Path(__file__).resolve().parents[3] / "examples" / "pi.py")
STUB_NAMESPACE = "stub"  # on the stand-in cluster


@pytest.fixture(scope="module")
def gateway(
    module_gateway: Callable[..., GatewayProcess],
    tmp_path_factory: pytest.TempPathFactory,
    spark_env: dict[str, str],
) -> GatewayProcess:
    return module_gateway(
        {
            "clusters": [
                local_cluster("local", "default"),
                local_cluster("standin", STUB_NAMESPACE, stand_in=True),
            ],
            "gateway": basic_auth(tmp_path_factory.mktemp("auth")),
            "livy": {"csrfProtection": True},
            "sessions": {"reapIntervalSeconds": 1},
        }
    )


def client_for(gw: GatewayProcess, user: str) -> httpx.Client:
    return httpx.Client(
        base_url=gw.url,
        timeout=60,
        headers={"Authorization": authorization(user), "X-Requested-By": "tests"},
    )


@pytest.fixture(scope="module")
def alices(gateway: GatewayProcess) -> Iterator[dict[str, object]]:
    """Alice's real pyspark session, idle, after three statements (Python, print, SQL)."""
    with client_for(gateway, "alice") as alice:
        sid = start_session(alice, timeout=600, name="alice-notebook")  # a loaded machine is slow
        assert text(run(alice, sid, "spark.range(7).count()")) == "7"
        assert text(run(alice, sid, "print('hello from the console')")) == "hello from the console"
        run(alice, sid, "SELECT 42 AS answer", kind="sql")
        session = alice.get(f"/api/livy/sessions/{sid}").json()
        yield {"id": sid, "gid": session["appInfo"]["GatewayId"]}
        alice.delete(f"/api/livy/sessions/{sid}")  # if the Kill test did not run


@pytest.fixture(scope="module")
def bobs(gateway: GatewayProcess) -> dict[str, object]:
    """Bob's session and batch on the stand-in cluster: listed (failed), costing no JVM."""
    stub = {"X-Spark-Gateway-Livy-Namespace": STUB_NAMESPACE}
    with client_for(gateway, "bob") as bob:
        session = bob.post(
            "/api/livy/sessions", json={"kind": "pyspark", "name": "bob-notebook"}, headers=stub
        )
        assert session.status_code == 201, session.text
        batch = bob.post("/api/livy/batches", json={"file": PI, "name": "bob-report"}, headers=stub)
        assert batch.status_code == 201, batch.text
        sid = session.json()["id"]
        wait_until(
            lambda: bob.get(f"/api/livy/sessions/{sid}/state").json()["state"] == "dead",
            what="bob's session to die (its spark-submit is /bin/false)",
        )
        return {
            "id": sid,
            "gid": session.json()["appInfo"]["GatewayId"],
            "batch": batch.json()["appInfo"]["GatewayId"],
        }


def kinds(browser: Browser) -> dict[str, str]:
    rows = browser.driver.execute_script(
        "return [...document.querySelectorAll('tr[data-gateway-id]')].map(r => [r.dataset.gatewayId, r.dataset.kind])"
    )
    return {gid: kind for gid, kind in rows}


def test_a_session_is_listed_with_its_type(
    gateway: GatewayProcess, browser: Browser, alices: dict[str, object], bobs: dict[str, object]
) -> None:
    browser.as_user(authorization("root"))
    browser.open(f"{gateway.url}/ui/applications")
    browser.wait(lambda d: browser.rows().get(str(bobs["gid"])) == "FAILED", what="bob's dead session")
    assert kinds(browser) == {alices["gid"]: "session", bobs["gid"]: "session", bobs["batch"]: "batch"}
    row = browser.find(f'tr[data-gateway-id="{alices["gid"]}"]')
    assert row.find_element("css selector", ".kind").text == "SESSION"  # shown in capitals (CSS)
    assert f"session {alices['id']}" in row.text and "alice-notebook" in row.text
    assert browser.rows()[str(alices["gid"])] == "RUNNING"
    browser.screenshot("applications")


def test_opening_a_session_shows_its_statements(
    gateway: GatewayProcess, browser: Browser, alices: dict[str, object]
) -> None:
    assert browser.table_as(gateway.url, "alice") == [alices["gid"]]
    # Clicked from script: the auto-refresh may replace the row between finding and clicking it.
    browser.driver.execute_script(
        f"document.querySelector('tr[data-gateway-id=\"{alices['gid']}\"] a').click()"
    )
    browser.wait(lambda d: d.current_url.endswith(f"/ui/sessions/{alices['id']}"), what="the session page")
    assert browser.text("#session-state") == "idle"
    codes = [el.text for el in browser.find_all(".statement pre.code")]
    assert codes == ["spark.range(7).count()", "print('hello from the console')", "SELECT 42 AS answer"]
    outputs = [el.text for el in browser.find_all(".statement pre.output")]
    assert outputs == ["7", "hello from the console"]
    assert browser.text(".statement table.output") == "answer\n42"
    browser.wait(lambda d: browser.find_all("#log .line"), timeout=60, what="the driver log")
    assert "live" in browser.text("#log-status")
    assert browser.text("#state") == "RUNNING"
    browser.screenshot("session")

    with client_for(gateway, "alice") as alice:  # a new statement appears without a reload
        run(alice, int(str(alices["id"])), "21 * 2")
    browser.wait(
        lambda d: [el.text for el in browser.find_all(".statement pre.output")][-1:] == ["42"],
        what="the new statement's output (the page re-reads itself)",
    )
    browser.screenshot("session-new-statement")


def test_a_users_view_excludes_other_users_sessions(
    gateway: GatewayProcess, browser: Browser, alices: dict[str, object], bobs: dict[str, object]
) -> None:
    assert browser.table_as(gateway.url, "alice") == [alices["gid"]]
    browser.screenshot("alice-applications")
    browser.open(f"{gateway.url}/ui/sessions/{bobs['id']}")
    assert "not found" in browser.text("#error-message")
    assert "bob-notebook" not in browser.driver.page_source
    browser.screenshot("alice-denied-bobs-session")

    assert set(browser.table_as(gateway.url, "bob")) == {bobs["gid"], bobs["batch"]}
    browser.open(f"{gateway.url}/ui/sessions/{bobs['id']}")
    assert browser.text("#session-state") == "dead" and not browser.find_all("#kill")
    browser.screenshot("bob-dead-session")


def test_kill_a_session_from_its_page(
    gateway: GatewayProcess, browser: Browser, alices: dict[str, object]
) -> None:
    browser.as_user(authorization("alice"))
    browser.open(f"{gateway.url}/ui/sessions/{alices['id']}")
    browser.find("#kill").click()
    alert = browser.driver.switch_to.alert
    assert "Kill alice-notebook?" in alert.text
    alert.accept()
    browser.wait(lambda d: "Killed" in browser.text("#notice"), timeout=60, what="the kill confirmation")
    assert browser.text("#session-state") == "killed"
    browser.screenshot("killed")
    with client_for(gateway, "alice") as alice:
        assert alice.get(f"/api/livy/sessions/{alices['id']}").status_code == 404
        wait_until(
            lambda: alice.get(f"/api/v1/applications/{alices['gid']}").status_code == 404,
            what="the driver application to go",
        )
