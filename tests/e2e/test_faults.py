"""Database faults: the database going away (503 + Retry-After, recovery without a restart, no data
lost), statement timeouts, start-up while the database is down, concurrent duplicate creates, and the
machine's PostgreSQL restarted under traffic to two gateway processes.

Outages of one gateway's database are made with a TCP proxy in front of PostgreSQL that the test cuts
and heals; one test restarts the machine's PostgreSQL itself, as an operator would. Which failures count
as "unavailable" is tested in tests/db/test_availability.py; stopping gateways in test_stopping_gateways.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from spark_gateway.api.app import create_app
from spark_gateway.settings import Settings
from tests.conftest import missing
from tests.e2e.conftest import GatewayStarter
from tests.e2e.local_replicas import EXAMPLES, batch_body, fenced_refusals, replica_config, wait_terminal
from tests.support.pg_proxy import PgProxy
from tests.support.waiting import wait_until

# One gateway in this process, its database behind a proxy --------------------------------------


@contextlib.asynccontextmanager
async def in_process_gateway(
    db_url: str, data_dir: Path, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    overrides["database"] = {**overrides.get("database", {}), "url": db_url}
    settings = Settings.load(None, dataDir=str(data_dir), **overrides)
    app = create_app(settings, background=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        yield client


async def create(client: httpx.AsyncClient, **extra: Any) -> httpx.Response:
    return await client.post("/api/livy/batches", json=batch_body(0, **extra))


async def test_database_outage_is_503_with_retry_after_and_heals_without_restart(
    fresh_db: str, tmp_path: Path
) -> None:
    proxy = PgProxy()
    await proxy.start()
    async with in_process_gateway(proxy.url(fresh_db), tmp_path) as client:
        ids = [(await create(client)).json()["id"] for _ in range(3)]
        await proxy.cut()
        requests = [
            client.get(f"/api/livy/batches/{ids[0]}"),
            client.get("/api/livy/batches"),
            create(client),
            client.get("/api/v1/applications"),
            client.get("/ready"),
        ]
        for request in requests:
            started = time.monotonic()
            response = await request
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) > 0
            assert time.monotonic() - started < 6.5, "an outage must be answered, not hang"
        await proxy.start()  # the database is back: no restart of the gateway
        listing = await client.get("/api/livy/batches")
        assert listing.status_code == 200
        assert [s["id"] for s in listing.json()["sessions"]] == ids
        new = await create(client)
        assert new.status_code == 201 and new.json()["id"] > ids[-1]
    await proxy.cut()


async def test_start_up_waits_for_the_database_instead_of_crashing(fresh_db: str, tmp_path: Path) -> None:
    proxy = PgProxy()  # not listening yet: the database is "down" when the gateway starts

    async def heal_later() -> None:
        await asyncio.sleep(2.0)
        await proxy.start()

    healer = asyncio.create_task(heal_later())
    started = time.monotonic()
    async with in_process_gateway(proxy.url(fresh_db), tmp_path) as client:
        assert time.monotonic() - started >= 2.0
        assert (await client.get("/ready")).status_code == 200
        assert (await create(client)).status_code == 201
    await healer
    await proxy.cut()


async def test_statement_timeout_is_503_not_500(fresh_db: str, tmp_path: Path) -> None:
    blocker = await asyncpg.connect(fresh_db.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with in_process_gateway(
            fresh_db, tmp_path, database={"statementTimeoutSeconds": 0.5}
        ) as client:
            assert (await create(client)).status_code == 201
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE livy_batches IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                response = await client.get("/api/livy/batches")
                assert response.status_code == 503 and "Retry-After" in response.headers
                assert time.monotonic() - started < 3
            assert (await client.get("/api/livy/batches")).status_code == 200
    finally:
        await blocker.close()


async def test_concurrent_duplicate_creates_return_the_original(db_url: str, tmp_path: Path) -> None:
    async with in_process_gateway(db_url, tmp_path) as client:
        for key in ("k1", "k2"):
            responses = await asyncio.gather(
                *(
                    client.post("/api/livy/batches", json=batch_body(0), headers={"Idempotency-Key": key})
                    for _ in range(12)
                )
            )
            assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
            assert len({r.json()["id"] for r in responses}) == 1
            native = await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/applications",
                        json={
                            "metadata": {"namespace": "default", "name": "dup"},
                            "spec": {
                                "type": "Python",
                                "sparkVersion": "4.0.0",
                                "mainApplicationFile": str(EXAMPLES / "pi.py"),
                            },
                        },
                        headers={"Idempotency-Key": key},
                    )
                    for _ in range(8)
                )
            )
            assert {r.status_code for r in native} == {201}, [r.text for r in native]
            assert len({r.json()["gatewayId"] for r in native}) == 1
        assert (await client.get("/api/livy/batches")).json()["total"] == 2
        assert len((await client.get("/api/v1/applications")).json()) == 4


# Real gateway processes ----------------------------------------------------------------------


def can_restart_postgres() -> bool:
    return os.path.isdir("/etc/postgresql") and shutil.which("pg_ctlcluster") is not None


def restart_postgres() -> float:
    """Restart the machine's PostgreSQL (fast shutdown: every session is cut); returns the seconds taken."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return time.monotonic() - started


@pytest.mark.e2e
@pytest.mark.serial  # every other test's PostgreSQL connections are cut: run alone (tests/conftest.py)
async def test_postgres_restart_during_traffic_is_503_then_success_with_the_same_data(
    fresh_db: str, start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    if not can_restart_postgres():
        missing("this test restarts the local PostgreSQL with pg_ctlcluster")
    gateways = [start_gateway(replica_config(fresh_db, tmp_path)) for _ in range(2)]
    acknowledged: list[int] = []
    outcomes: list[tuple[float, str, int, float]] = []  # (at, op, status, seconds)
    retry_after_missing = 0
    stop_at = time.monotonic() + 3600.0

    async def traffic(index: int) -> None:
        nonlocal retry_after_missing
        async with httpx.AsyncClient(base_url=gateways[index % 2].url, timeout=30) as http:
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                op = ("create", "list", "get")[n % 3]
                started = time.monotonic()
                if op == "create":  # a client that retries with one Idempotency-Key, as it should
                    key = {"Idempotency-Key": f"c{index}-{n}"}
                    response = await http.post("/api/livy/batches", json=batch_body(0.2), headers=key)
                    while response.status_code == 503 and time.monotonic() < stop_at + 20:
                        outcomes.append((started, op, 503, time.monotonic() - started))
                        await asyncio.sleep(min(float(response.headers.get("Retry-After", 1)), 1.0))
                        response = await http.post("/api/livy/batches", json=batch_body(0.2), headers=key)
                elif op == "list" or not acknowledged:
                    response = await http.get("/api/livy/batches", params={"size": 5})
                else:
                    response = await http.get(f"/api/livy/batches/{acknowledged[-1]}")
                outcomes.append((started, op, response.status_code, time.monotonic() - started))
                if response.status_code == 503 and "Retry-After" not in response.headers:
                    retry_after_missing += 1
                if op == "create" and response.status_code == 201:
                    acknowledged.append(response.json()["id"])
                await asyncio.sleep(0.05)

    clients = [asyncio.create_task(traffic(i)) for i in range(4)]
    await wait_until(lambda: len(acknowledged) >= 4, timeout=30, what="creates through both gateways")
    restart_began = time.monotonic()
    took = await asyncio.to_thread(restart_postgres)
    restart_ended = time.monotonic()
    recovered_by = restart_ended + 4.0  # every request started after this must succeed

    def answered_since_recovery() -> bool:
        return sum(o[0] >= recovered_by for o in outcomes) >= 12

    await wait_until(answered_since_recovery, timeout=60, what="requests answered after the restart")
    stop_at = time.monotonic()
    await asyncio.gather(*clients)

    statuses = {status for _, _, status, _ in outcomes}
    during = [o for o in outcomes if restart_began - 1 <= o[0] <= restart_ended]
    after = [o for o in outcomes if o[0] >= recovered_by]
    print(
        f"\nPostgreSQL restart took {took:.1f}s; {len(outcomes)} requests, "
        f"{sum(1 for o in during if o[2] == 503)} answered 503 around it, "
        f"slowest {max(o[3] for o in outcomes):.2f}s"
    )
    logs = [gw.log_tail(1_000_000) for gw in gateways]
    unhandled = [text[text.find("unhandled error") :][:3000] for text in logs if "unhandled error" in text]
    assert statuses <= {200, 201, 503}, (sorted(statuses), unhandled)  # never a 500
    assert any(o[2] == 503 for o in during), "no request noticed the restart"
    assert retry_after_missing == 0
    assert max(o[3] for o in outcomes) < 15, "a request hung during the outage"
    assert after and all(o[2] in (200, 201) for o in after), "the gateways did not recover by themselves"

    for gw in gateways:  # the same data through both replicas, and the background work resumed
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
            listed: list[int] = []
            while True:  # pages of at most 100 (the list cap)
                page = (await http.get("/api/livy/batches", params={"from": len(listed), "size": 100})).json()
                listed += [s["id"] for s in page["sessions"]]
                if not page["sessions"] or len(listed) >= page["total"]:
                    break
            # Nothing acknowledged is lost, and a create whose commit outcome the 503 left open was
            # retried with its key: no duplicates either.
            assert sorted(listed) == sorted(acknowledged)
    async with httpx.AsyncClient(base_url=gateways[0].url, timeout=30) as http:
        states = await wait_terminal(http, acknowledged, timeout=120)
    assert set(states.values()) == {"success"}, states
    assert fenced_refusals(gateways) == 0
