"""In a real Chromium: each user sees only what the API shows them; /docs and /redoc work offline.

The gateway here runs a stand-in `spark-submit` (/bin/false), so applications fail at once without
starting Spark: these tests are about who sees what, not about running jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(
    module_gateway: Callable[..., GatewayProcess], tmp_path_factory: pytest.TempPathFactory
) -> GatewayProcess:
    return module_gateway(
        {
            "clusters": [local_cluster("local", "default", stand_in=True)],
            "gateway": basic_auth(tmp_path_factory.mktemp("auth")),
        }
    )


def submit_as(gw: GatewayProcess, user: str, name: str) -> str:
    response = httpx.post(
        f"{gw.url}/api/livy/batches",
        json={"file": str(Path(__file__).resolve().parents[3] / "examples" / "pi.py"), "name": name},
        headers={"Authorization": authorization(user)},
    )
    assert response.status_code == 201, response.text
    gid = str(response.json()["appInfo"]["GatewayId"])
    wait_until(
        lambda: (
            httpx.get(
                f"{gw.url}/api/v1/applications/{gid}/status", headers={"Authorization": authorization(user)}
            ).json()["applicationState"]["state"]
            == "FAILED"
        ),
        what=f"{name} to fail (the stand-in spark-submit exits 1)",
    )
    return gid


def test_each_user_sees_only_their_applications(gateway: GatewayProcess, browser: Browser) -> None:
    alices = submit_as(gateway, "alice", "alice-report")
    bobs = submit_as(gateway, "bob", "bob-report")

    browser.as_user(authorization("alice"))
    browser.open(f"{gateway.url}/ui/applications")
    browser.wait(lambda d: browser.listed(), what="alice's table")
    assert alices in browser.listed() and bobs not in browser.listed()
    assert browser.text("#who") == "alice"
    browser.screenshot("alice-applications")

    browser.open(f"{gateway.url}/ui/applications/{bobs}")
    assert "not found" in browser.text("#error-message")  # like the API: not hers, so not there
    assert "bob-report" not in browser.driver.page_source
    browser.screenshot("alice-denied-bobs-application")
    browser.console_errors()  # reading the log empties it: the 404 above was expected

    browser.as_user(authorization("root"))
    browser.open(f"{gateway.url}/ui/applications")
    browser.wait(lambda d: {alices, bobs} <= set(browser.listed()), what="root's table with both")
    browser.screenshot("admin-applications")
    assert browser.console_errors() == []


def test_without_credentials_the_browser_gets_the_basic_prompt(
    gateway: GatewayProcess, browser: Browser
) -> None:
    challenge = httpx.get(f"{gateway.url}/ui/applications")
    assert challenge.status_code == 401 and challenge.headers["www-authenticate"].startswith("Basic")
    browser.open(f"{gateway.url}/ui/applications")
    # Chromium holds the 401 for its credentials prompt (headless: nobody answers) instead of
    # rendering the error body, and shows nothing of the console.
    body = browser.find("body").text
    assert "authentication required" not in body and "Applications" not in body


def outside_fetch(browser: Browser, url: str) -> Any:
    return browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {mode: 'no-cors'}).then(() => done('reached'), e => done('blocked: ' + e));",
        url,
    )


def test_docs_and_redoc_render_with_the_outside_network_blocked(
    gateway: GatewayProcess, browser: Browser
) -> None:
    browser.open(f"{gateway.url}/docs")
    assert outside_fetch(browser, "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css").startswith(
        "blocked"
    )
    browser.wait(lambda d: len(browser.find_all(".opblock")) >= 10, what="Swagger UI's operations")
    paths = {el.text for el in browser.find_all(".opblock-summary-path")}
    assert {"/api/livy/batches", "/api/v1/applications/{gateway_id}"} <= paths
    browser.screenshot("swagger-ui")

    browser.open(f"{gateway.url}/redoc")
    browser.wait(
        lambda d: "Submit a batch" in d.find_element("tag name", "body").text, what="ReDoc's operations"
    )
    browser.screenshot("redoc")
