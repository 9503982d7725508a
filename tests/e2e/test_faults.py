"""Faults: the database going away (503 + Retry-After, recovery without a restart, no data lost),
statement timeouts, start-up while the database is down, concurrent duplicate creates, SIGTERM, and a
gateway killed while real Spark jobs run.

Outages of one gateway's database are made with a TCP proxy in front of PostgreSQL that the test cuts
and heals; one test restarts the machine's PostgreSQL itself, as an operator would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from spark_gateway.api.app import create_app
from spark_gateway.db.availability import is_unavailable
from spark_gateway.settings import Settings
from tests.conftest import PG_HOST, PG_PORT, missing
from tests.e2e.conftest import GatewayStarter, find_job_session, free_port, session_processes
from tests.e2e.test_replicas import (
    batch_body,
    fenced_refusals,
    fresh_db,
    lease_holder,
    replica_config,
    wait_for_holder,
    wait_terminal,
)

__all__ = ["fresh_db"]  # a fixture shared with test_replicas
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# Which failures mean "unavailable" -----------------------------------------------------------


class _Orig(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _sqlite_error(message: str) -> OperationalError:
    import sqlite3

    return OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"), True),
        (TimeoutError(), True),  # asyncpg's connect and command timeouts
        (PoolTimeout("QueuePool limit reached"), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.TooManyConnectionsError("too many clients"), True),
        (DBAPIError("SELECT 1", {}, _Orig("statement timeout", "57014")), True),
        (DBAPIError("SELECT 1", {}, _Orig("terminating connection", "57P01")), True),
        (DBAPIError("SELECT 1", {}, _Orig("closed in the middle", "08003")), True),
        (_sqlite_error("database is locked"), True),
        (_sqlite_error("no such table: applications"), False),
        (IntegrityError("INSERT", {}, _Orig("duplicate key", "23505")), False),
        (DBAPIError("SELECT 1", {}, _Orig("syntax error", "42601")), False),
        (FileNotFoundError(2, "No such file"), False),
        (ValueError("bug"), False),
    ],
)
def test_unavailable_database_failures_are_told_from_bugs(exc: BaseException, unavailable: bool) -> None:
    assert is_unavailable(exc) is unavailable


# One gateway in this process, its database behind a proxy --------------------------------------


class TcpProxy:
    """Forwards a local port to PostgreSQL; `cut()` drops every connection and refuses new ones."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def url(self, db_url: str) -> str:
        return db_url.replace(f"{PG_HOST}:{PG_PORT}", f"127.0.0.1:{self.port}")


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
    proxy = TcpProxy()
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
    proxy = TcpProxy()  # not listening yet: the database is "down" when the gateway starts

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
    await asyncio.sleep(2.0)
    restart_began = time.monotonic()
    took = await asyncio.to_thread(restart_postgres)
    restart_ended = time.monotonic()
    await asyncio.sleep(8.0)
    stop_at = time.monotonic()
    await asyncio.gather(*clients)

    statuses = {status for _, _, status, _ in outcomes}
    during = [o for o in outcomes if restart_began - 1 <= o[0] <= restart_ended]
    after = [o for o in outcomes if o[0] >= restart_ended + 4.0]
    print(
        f"\nPostgreSQL restart took {took:.1f}s; {len(outcomes)} requests, "
        f"{sum(1 for o in during if o[2] == 503)} answered 503 around it, "
        f"slowest {max(o[3] for o in outcomes):.2f}s"
    )
    assert statuses <= {200, 201, 503}, sorted(statuses)  # never a 500
    assert any(o[2] == 503 for o in during), "no request noticed the restart"
    assert retry_after_missing == 0
    assert max(o[3] for o in outcomes) < 15, "a request hung during the outage"
    assert after and all(o[2] in (200, 201) for o in after), "the gateways did not recover by themselves"

    for gw in gateways:  # the same data through both replicas, and the background work resumed
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
            listing = (await http.get("/api/livy/batches", params={"size": 1000})).json()
            # Nothing acknowledged is lost, and a create whose commit outcome the 503 left open was
            # retried with its key: no duplicates either.
            assert sorted(s["id"] for s in listing["sessions"]) == sorted(acknowledged)
    async with httpx.AsyncClient(base_url=gateways[0].url, timeout=30) as http:
        states = await wait_terminal(http, acknowledged, timeout=120)
    assert set(states.values()) == {"success"}, states
    assert fenced_refusals(gateways) == 0


async def slow_body(seconds: float) -> AsyncIterator[bytes]:
    """A valid Livy create body, uploaded over `seconds` (JSON allows the padding)."""
    yield b'{"file": "' + str(EXAMPLES / "pi.py").encode() + b'", "args": ["0.2"], "name": "inflight"'
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
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as http:
        job = (await http.post("/api/livy/batches", json=batch_body(6))).json()
        deadline = time.monotonic() + 30
        while (await http.get(f"/api/livy/batches/{job['id']}/state")).json()["state"] == "not_started":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        sid = find_job_session(job["appInfo"]["GatewayId"])
        assert sid is not None and session_processes(sid)
        token_before = (await lease_holder(fresh_db) or ("", 0, False))[1]

        in_flight = asyncio.create_task(http.post("/api/livy/batches", content=slow_body(2.0)))
        await asyncio.sleep(0.5)
        assert first.proc is not None
        first.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.5)
        with pytest.raises(httpx.TransportError):  # no new connections while draining
            async with httpx.AsyncClient(base_url=first.url, timeout=5) as fresh:
                await fresh.get("/health")
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
    async with httpx.AsyncClient(base_url=second.url, timeout=30) as http:
        states = await wait_terminal(http, [job["id"], response.json()["id"]], timeout=60)
        assert set(states.values()) == {"success"}
        log = (await http.get(f"/api/livy/batches/{job['id']}/log", params={"size": -1})).json()["log"]
    assert any("fake driver done" in line for line in log)
    assert "lease supervisor:local released" in first.log_path.read_text()


@pytest.mark.e2e
@pytest.mark.spark
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
