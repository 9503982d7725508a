"""Reads outside transactions (`Database.read`): the hot path's own pool survives dropped connections."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import func, literal, select, text

from spark_gateway.db import point_reads
from spark_gateway.db import repository as repo
from spark_gateway.db.availability import is_unavailable
from spark_gateway.db.engine import Database
from tests.db.test_repository import add_batch
from tests.e2e.processes import free_port


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_read_after_the_server_dropped_its_connection_succeeds(database: Database) -> None:
    batch_id = await add_batch(database, "r0")
    assert await database.read(lambda conn: repo.get_batch(conn, batch_id)) is not None
    async with database.transaction() as session:  # the server ends every other session (a restart)
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    found = await database.read(lambda conn: repo.get_batch(conn, batch_id, recent_lines=10))
    assert found is not None and found[0] == batch_id
    assert repo.recent_log_of(found[1]) == []


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_point_read_after_the_server_dropped_its_connection_succeeds(database: Database) -> None:
    batch_id = await add_batch(database, "r1")
    assert await point_reads.batch(database, batch_id) is not None  # opens the direct pool
    async with database.transaction() as session:
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    row = await point_reads.batch(database, batch_id, recent_lines=10)
    assert row is not None and row.batch_id == batch_id
    assert point_reads.lines_of(row.recent_log) == []


async def test_point_reads_see_every_committed_write(database: Database) -> None:
    """No cache: a read right after a commit (through the engine) sees it."""
    batch_id = await add_batch(database, "r2")
    row = await point_reads.batch(database, batch_id)
    assert row is not None
    async with database.transaction() as session:
        stored = await repo.get_application(session, row.gateway_id)
        assert stored is not None
        await repo.save(session, stored, state="RUNNING")
    row = await point_reads.batch(database, batch_id)
    assert row is not None and row.state == "RUNNING"
    assert (await point_reads.application(database, row.gateway_id)).batch_id == batch_id


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_point_read_after_a_restart_succeeds_with_many_idle_connections(database: Database) -> None:
    """Every idle connection died with the server: the retry opens a fresh one, not the next dead one."""
    batch_id = await add_batch(database, "r3")
    rows = await asyncio.gather(*(point_reads.batch(database, batch_id) for _ in range(5)))
    assert all(row is not None for row in rows)
    async with database.transaction() as session:
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    row = await point_reads.batch(database, batch_id)
    assert row is not None and row.batch_id == batch_id


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_point_read_on_a_database_that_refuses_connections_is_unavailable(database: Database) -> None:
    down = Database(str(database.url.set(port=free_port())))
    try:
        with pytest.raises(Exception) as raised:
            await point_reads.batch(down, 1)
        assert is_unavailable(raised.value)
    finally:
        await down.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_point_reads_go_on_after_close(database: Database) -> None:
    batch_id = await add_batch(database, "r4")
    assert await point_reads.batch(database, batch_id) is not None
    await database.direct.close()
    assert await point_reads.batch(database, batch_id) is not None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_sqlite_file_that_cannot_be_opened_is_unavailable_not_a_bug(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot_open(*_: object, **__: object) -> None:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(database.direct, "_connect", cannot_open)
    with pytest.raises(Exception) as raised:
        await point_reads.batch(database, 1)
    assert is_unavailable(raised.value)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_point_read_whose_connection_is_cut_mid_query_is_read_again(database: Database) -> None:
    """A restart ends a read in flight: asyncpg hands the lost connection back itself; read on a new one."""
    assert await point_reads.batch(database, await add_batch(database, "r5")) is not None  # opens the pool
    slow = select(func.pg_sleep(1.0).label("slept"), literal(7).label("seven"))

    async def cut_when_sleeping() -> None:
        async with database.transaction() as session:
            for _ in range(100):
                killed = await session.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                        "datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%pg_sleep%'"
                    )
                )
                if killed.first() is not None:
                    return
                await asyncio.sleep(0.02)

    cutter = asyncio.create_task(cut_when_sleeping())
    row = await database.direct.first(slow, {})
    await cutter
    assert row is not None and row.seven == 7
