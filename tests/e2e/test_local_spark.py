"""Real gateway process, real Spark: success, failure, delete while running, restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import GatewayStarter, find_job_session, session_processes, wait_for_state

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.spark


def submit(client: httpx.Client, file: str, **body: object) -> dict:
    response = client.post("/api/livy/batches", json={"file": str(EXAMPLES / file), **body})
    assert response.status_code == 201, response.text
    return response.json()


def test_python_batch_succeeds_with_its_output_in_the_log(start_gateway: GatewayStarter) -> None:
    gw = start_gateway()
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        batch = submit(client, "pi.py", args=["2"], name="pi")
        seen = wait_for_state(client, batch["id"], {"success", "error", "dead"})
        assert seen[-1] == "success", gw.log_path.read_text()[-3000:]
        assert "running" in seen
        view = client.get(f"/api/livy/batches/{batch['id']}").json()
        assert view["appId"].startswith("local-")
        log = client.get(f"/api/livy/batches/{batch['id']}/log", params={"size": -1}).json()
        assert any("Pi is roughly" in line for line in log["log"])
        assert log["total"] == len(log["log"])


def test_failing_batch_is_error_with_traceback(start_gateway: GatewayStarter) -> None:
    gw = start_gateway()
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        batch = client.post("/api/livy/batches", json={"file": str(EXAMPLES / "fail.py")}).json()
        seen = wait_for_state(client, batch["id"], {"success", "error", "dead"})
        assert seen[-1] == "error"
        log = client.get(f"/api/livy/batches/{batch['id']}/log", params={"size": -1}).json()["log"]
        text = "\n".join(log)
        assert "Traceback" in text
        assert "RuntimeError: this batch fails on purpose" in text


def test_delete_while_running_kills_the_whole_process_tree(start_gateway: GatewayStarter) -> None:
    gw = start_gateway()
    with httpx.Client(base_url=gw.url, timeout=60) as client:
        batch = client.post(
            "/api/livy/batches", json={"file": str(EXAMPLES / "sleep.py"), "args": ["300"]}
        ).json()
        wait_for_state(client, batch["id"], {"running"})
        sid = find_job_session(batch["appInfo"]["GatewayId"])
        assert sid is not None and session_processes(sid), "job processes not found"
        response = client.delete(f"/api/livy/batches/{batch['id']}")
        assert response.status_code == 200 and response.json() == {"msg": "deleted"}
        deadline = time.monotonic() + 15
        while session_processes(sid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session_processes(sid) == []
        response = client.get(f"/api/livy/batches/{batch['id']}")
        assert response.status_code == 404
        assert response.json() == {"msg": f"Session '{batch['id']}' not found."}


def test_restart_keeps_ids_and_logs_and_reattaches_running_jobs(start_gateway: GatewayStarter) -> None:
    first = start_gateway()
    with httpx.Client(base_url=first.url, timeout=30) as client:
        done = client.post("/api/livy/batches", json={"file": str(EXAMPLES / "pi.py")}).json()
        wait_for_state(client, done["id"], {"success"})
        sleeper = client.post(
            "/api/livy/batches", json={"file": str(EXAMPLES / "sleep.py"), "args": ["15"]}
        ).json()
        wait_for_state(client, sleeper["id"], {"running"})
    first.stop(signal.SIGKILL)

    second = start_gateway(port=first.port)
    with httpx.Client(base_url=second.url, timeout=30) as client:
        listing = client.get("/api/livy/batches").json()
        assert [s["id"] for s in listing["sessions"]] == [done["id"], sleeper["id"]]
        log = client.get(f"/api/livy/batches/{done['id']}/log", params={"size": -1}).json()["log"]
        assert any("Pi is roughly" in line for line in log)
        seen = wait_for_state(client, sleeper["id"], {"success", "error", "dead"})
        assert seen[-1] == "success"
        log = client.get(f"/api/livy/batches/{sleeper['id']}/log", params={"size": -1}).json()["log"]
        assert any("sleeper done" in line for line in log)
        new = client.post("/api/livy/batches", json={"file": str(EXAMPLES / "pi.py")}).json()
        assert new["id"] == sleeper["id"] + 1
