"""Faults: the database going away (503 + Retry-After, recovery without a restart, no data lost),
statement timeouts, start-up while the database is down, concurrent duplicate creates, SIGTERM, and a
gateway killed while real Spark jobs run.

Outages of one gateway's database are made with a TCP proxy in front of PostgreSQL that the test cuts
and heals; one test restarts the machine's PostgreSQL itself, as an operator would.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from tests.conftest import PG_HOST, PG_PORT
from tests.e2e.conftest import free_port
from tests.e2e.test_replicas import (
    batch_body,
    fresh_db,
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
