"""In a real Chromium against a real gateway running real (small) Spark jobs on the local cluster.

Three Spark jobs in all, on one gateway for the module: pi and a failing job for the table, its
filters and auto-refresh; a ticker submitted from the form whose log is watched growing and which is
then killed from its page.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.browser.conftest import Browser, wait_until
from tests.e2e.conftest import GatewayProcess, find_job_session, session_processes

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="module")
def gateway(module_gateway: Callable[..., GatewayProcess], spark_env: dict[str, str]) -> GatewayProcess:
    # With Livy's CSRF rule on, the console's Submit and Kill must pass it like any API client.
    return module_gateway({"livy": {"csrfProtection": True}})


def submit(gw: GatewayProcess, file: str, name: str, *args: str) -> str:
    body = {"file": str(EXAMPLES / file), "name": name, "args": list(args)}
    response = httpx.post(
        f"{gw.url}/api/livy/batches", json=body, headers={"X-Requested-By": "tests"}, timeout=30
    )
    assert response.status_code == 201, response.text
    return str(response.json()["appInfo"]["GatewayId"])


def test_list_filter_and_auto_refresh(gateway: GatewayProcess, browser: Browser) -> None:
    from selenium.webdriver.support.ui import Select

    browser.open(f"{gateway.url}/ui/applications")
    pi = submit(gateway, "pi.py", "pi-browser", "2")
    failing = submit(gateway, "fail.py", "fail-browser")
    # No reload: the table refreshes itself until both jobs have finished.
    browser.wait(
        lambda d: browser.rows().get(pi) == "COMPLETED" and browser.rows().get(failing) == "FAILED",
        timeout=180,
        what="both jobs finished in the auto-refreshed table",
    )
    assert browser.listed() == [failing, pi]
    browser.screenshot("applications")

    Select(browser.find("#filter-state")).select_by_value("FAILED")
    browser.wait(lambda d: browser.listed() == [failing], what="only the failed job")
    assert "state=FAILED" in browser.driver.current_url
    browser.screenshot("filtered-failed")

    Select(browser.find("#filter-state")).select_by_value("")
    browser.find("#q").send_keys("pi-")
    browser.wait(lambda d: browser.listed() == [pi], what="the name search")
    browser.screenshot("search-pi")

    # Clicked from script: the auto-refresh may replace the row between finding and clicking it.
    browser.driver.execute_script(f"document.querySelector('tr[data-gateway-id=\"{pi}\"] a').click()")
    browser.wait(lambda d: "finished" in browser.text("#log-status"), what="the whole finished log")
    assert "Pi is roughly" in browser.text("#log")
    assert len(browser.find_all(".timeline li.reached")) == 4
    assert not browser.find_all("#kill")  # nothing left to kill
    browser.screenshot("application-finished")


def tick_lines(browser: Browser) -> int:
    return int(
        browser.driver.execute_script(
            "return [...document.querySelectorAll('#log .line')].filter(l => l.textContent.startsWith('tick ')).length"
        )
    )


def test_submit_from_the_form_watch_the_log_grow_and_kill(gateway: GatewayProcess, browser: Browser) -> None:
    browser.open(f"{gateway.url}/ui/submit")
    browser.find("#submit-button").click()
    browser.wait(lambda d: browser.text("#submit-error"), what="the API's validation message")
    assert browser.text("#submit-error") == "File is required."
    browser.screenshot("submit-invalid")

    browser.find("#file").send_keys(str(EXAMPLES / "ticker.py"))
    browser.find("#args").send_keys("120")
    browser.find("#conf").send_keys("spark.ui.showConsoleProgress=false")
    browser.find("#name").send_keys("ticker-browser")
    browser.screenshot("submit-filled")
    browser.find("#submit-button").click()
    browser.wait(lambda d: "/ui/applications/" in d.current_url, what="the new application's page")
    gid = browser.driver.current_url.rsplit("/", 1)[1]

    browser.wait(lambda d: browser.text("#state") == "RUNNING", timeout=120, what="RUNNING")
    browser.wait(lambda d: tick_lines(browser) >= 1, timeout=120, what="the first tick in the log")
    first = tick_lines(browser)
    browser.wait(lambda d: tick_lines(browser) >= first + 4, timeout=60, what="the log to grow")
    assert "live" in browser.text("#log-status")
    browser.wait(lambda d: "Spark UI" in browser.text("#links a"), timeout=60, what="the Spark UI link")
    assert browser.text(".timeline li:nth-child(3) span").endswith("UTC")  # running since, updated live
    browser.screenshot("application-live")
    browser.find("#log-search").send_keys("tick 3")
    browser.wait(lambda d: browser.text("#log-matches") == "1 matching line", what="the log search")
    browser.screenshot("application-running")

    sid = find_job_session(gid)
    assert sid is not None and session_processes(sid)
    browser.find("#kill").click()
    alert = browser.driver.switch_to.alert
    assert "Kill ticker-browser?" in alert.text
    alert.accept()
    browser.wait(lambda d: "Killed" in browser.text("#notice"), timeout=60, what="the kill confirmation")
    browser.screenshot("killed")
    assert httpx.get(f"{gateway.url}/api/v1/applications/{gid}").status_code == 404
    wait_until(lambda: not session_processes(sid), timeout=60, what="the job's processes to end")

    browser.open(f"{gateway.url}/ui/applications")
    browser.wait(lambda d: browser.find_all("#total"), what="the table")
    assert gid not in browser.listed()


def test_clusters_page(gateway: GatewayProcess, browser: Browser) -> None:
    browser.open(f"{gateway.url}/ui/clusters")
    row = browser.find('tr[data-cluster="local"]')
    assert "in gateway" in row.text
    assert browser.find("#choices").text.splitlines()[-1] == "default local"
    browser.screenshot("clusters")
