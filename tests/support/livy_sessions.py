"""Client-side helpers for tests that drive real Livy sessions over HTTP: wait, run, read outputs."""

from __future__ import annotations

import time
from typing import Any

import httpx

FINAL_SESSION_STATES = {"error", "dead", "killed", "success"}
FINAL_STATEMENT_STATES = {"available", "error", "cancelled"}


def wait_session(client: httpx.Client, sid: int, states: set[str], timeout: float = 180.0) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = client.get(f"/api/livy/sessions/{sid}/state").json()["state"]
        if state in states:
            return state
        if state in FINAL_SESSION_STATES:
            log = client.get(f"/api/livy/sessions/{sid}/log", params={"size": 60}).json()["log"]
            raise AssertionError(f"session {sid} ended ({state}) waiting for {states}:\n" + "\n".join(log))
        time.sleep(0.2)
    raise AssertionError(f"session {sid} never reached {states} (last: {state})")


def start_session(client: httpx.Client, timeout: float = 180.0, **body: Any) -> int:
    response = client.post("/api/livy/sessions", json={"kind": "pyspark", **body})
    assert response.status_code == 201, response.text
    sid = int(response.json()["id"])
    wait_session(client, sid, {"idle"}, timeout)
    return sid


def submit(client: httpx.Client, sid: int, code: str, **extra: Any) -> int:
    response = client.post(f"/api/livy/sessions/{sid}/statements", json={"code": code, **extra})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def wait_statement(
    client: httpx.Client,
    sid: int,
    stid: int,
    timeout: float = 120.0,
    states: set[str] = FINAL_STATEMENT_STATES,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            body = client.get(f"/api/livy/sessions/{sid}/statements/{stid}").json()
        except httpx.TransportError:
            time.sleep(0.2)  # a gateway restarting
            continue
        if body.get("state") in states:
            return body
        time.sleep(0.05)
    raise AssertionError(f"statement {sid}/{stid} never reached {states}: {body}")


def run(client: httpx.Client, sid: int, code: str, **extra: Any) -> dict[str, Any]:
    """Run a statement to its end and return its output."""
    body = wait_statement(client, sid, submit(client, sid, code, **extra))
    assert body["state"] == "available", body
    output: dict[str, Any] = body["output"]
    return output


def text(output: dict[str, Any]) -> str:
    assert output["status"] == "ok", output
    result: str = output["data"]["text/plain"]
    return result
