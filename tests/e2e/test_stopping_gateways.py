"""Gateways that stop: SIGTERM finishes in-flight requests, releases the lease and spares running jobs;
a leader killed with SIGKILL while real Spark jobs run leaves them running, and its successor re-attaches
and records their final state and logs.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import GatewayStarter, find_job_session, session_processes
from tests.e2e.local_replicas import (
    EXAMPLES,
    batch_body,
    lease_holder,
    replica_config,
    wait_for_holder,
    wait_terminal,
)
from tests.support.waiting import wait_until


async def slow_body(seconds: float, sending: asyncio.Event) -> AsyncIterator[bytes]:
    """A valid Livy create body, uploaded over `seconds` (JSON allows the padding); `sending` is set once
    its first part has gone out."""
    yield b'{"file": "' + str(EXAMPLES / "pi.py").encode() + b'", "args": ["0.2"], "name": "inflight"'
    sending.set()
    for _ in range(10):
        await asyncio.sleep(seconds / 10)
        yield b" " * 10
    yield b"}"


@pytest.mark.e2e
async def test_sigterm_finishes_in_flight_requests_releases_the_lease_and_spares_jobs(
    fresh_db: str, start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    config = replica_config(fresh_db, tmp_path)
    first = start_gateway(config)
    assert await wait_for_holder(fresh_db, [first]) is first
    second = start_gateway(config)
    gate = tmp_path / "job-may-end"  # the job runs until the test has seen it outlive the shutdown
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as http:
        job = (await http.post("/api/livy/batches", json=batch_body(args=[f"gate={gate}", "0.5"]))).json()
        deadline = time.monotonic() + 30
        while (await http.get(f"/api/livy/batches/{job['id']}/state")).json()["state"] == "not_started":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        sid = find_job_session(job["appInfo"]["GatewayId"])
        assert sid is not None and session_processes(sid)
        token_before = (await lease_holder(fresh_db) or ("", 0, False))[1]

        sending = asyncio.Event()
        in_flight = asyncio.create_task(http.post("/api/livy/batches", content=slow_body(2.0, sending)))
        await asyncio.wait_for(sending.wait(), timeout=10)
        assert first.proc is not None
        first.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        async def refuses_new_connections() -> bool:
            try:
                async with httpx.AsyncClient(base_url=first.url, timeout=5) as fresh:
                    await fresh.get("/health")
            except httpx.TransportError:
                return True
            return False

        # no new connections while draining
        await wait_until(refuses_new_connections, timeout=1.0, what="the draining gateway to refuse")
        response = await in_flight
    assert response.status_code == 201, response.text  # the in-flight request was finished
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete, so the exit status says so
    assert first.proc.wait(30) in (0, -signal.SIGTERM)
    exited = time.monotonic() - signalled
    takeover = None
    while time.monotonic() - signalled < 20:
        state = await lease_holder(fresh_db)
        if state is not None and state[2] and state[1] > token_before:
            takeover = time.monotonic() - signalled
            break
        await asyncio.sleep(0.05)
    print(f"\nSIGTERM: exited after {exited:.1f}s, successor holds the lease {takeover}s after the signal")
    assert takeover is not None and takeover < exited + 2.0, "the lease was not released on shutdown"
    assert session_processes(sid), "graceful shutdown must not kill local jobs"
    gate.touch()
    async with httpx.AsyncClient(base_url=second.url, timeout=30) as http:
        states = await wait_terminal(http, [job["id"], response.json()["id"]], timeout=60)
        assert set(states.values()) == {"success"}
        log = (await http.get(f"/api/livy/batches/{job['id']}/log", params={"size": -1})).json()["log"]
    assert any("fake driver done" in line for line in log)
    assert "lease supervisor:local released" in first.log_path.read_text()


@pytest.mark.e2e
@pytest.mark.spark
@pytest.mark.long  # make test kills lease holders in tests/chaos and tests/e2e/test_replicas.py
async def test_killed_leader_while_spark_jobs_run_successor_records_final_state_and_logs(
    fresh_db: str, start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    """Real Spark: jobs submitted through one replica run under another; the holder is kill -9'd, the
    jobs survive it, the successor re-attaches and records their outcome and logs; the killed replica
    restarts and serves the same data."""
    config = {
        "database": {"url": fresh_db},
        "clusters": [
            {
                "name": "local",
                "id": "local",
                "type": "local",
                "namespaces": [{"name": "default", "id": "dflt"}],
                "local": {"maxConcurrentJobs": 2, "sparkConf": {"spark.ui.enabled": "false"}},
            }
        ],
    }
    first = start_gateway(config)
    assert await wait_for_holder(fresh_db, [first]) is first
    second = start_gateway(config)
    async with httpx.AsyncClient(base_url=second.url, timeout=30) as http:
        sleeper = (
            await http.post("/api/livy/batches", json={"file": str(EXAMPLES / "sleep.py"), "args": ["12"]})
        ).json()
        pi = (
            await http.post("/api/livy/batches", json={"file": str(EXAMPLES / "pi.py"), "args": ["2"]})
        ).json()
        deadline = time.monotonic() + 120
        while (await http.get(f"/api/livy/batches/{sleeper['id']}/state")).json()["state"] != "running":
            assert time.monotonic() < deadline, "the sleeper never started running"
            await asyncio.sleep(0.3)
        sid = find_job_session(sleeper["appInfo"]["GatewayId"])
        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        assert sid is not None and session_processes(sid), "the job must survive its gateway"
        states = await wait_terminal(http, [sleeper["id"], pi["id"]], timeout=180)
        assert states == {sleeper["id"]: "success", pi["id"]: "success"}
        sleeper_log = (await http.get(f"/api/livy/batches/{sleeper['id']}/log", params={"size": -1})).json()[
            "log"
        ]
        pi_log = (await http.get(f"/api/livy/batches/{pi['id']}/log", params={"size": -1})).json()["log"]
    assert any("sleeper done" in line for line in sleeper_log)
    assert sum("sleeper done" in line for line in sleeper_log) == 1, "log lines recorded twice"
    assert any("Pi is roughly" in line for line in pi_log)
    assert "re-attached" in second.log_path.read_text()
    assert session_processes(sid) == []

    restarted = start_gateway(config, port=first.port)
    async with httpx.AsyncClient(base_url=restarted.url, timeout=30) as http:
        listing = (await http.get("/api/livy/batches")).json()
        assert [(s["id"], s["state"]) for s in listing["sessions"]] == [
            (sleeper["id"], "success"),
            (pi["id"], "success"),
        ]
        new = (await http.post("/api/livy/batches", json=batch_body())).json()
        assert new["id"] == pi["id"] + 1
        await http.delete(f"/api/livy/batches/{new['id']}")
