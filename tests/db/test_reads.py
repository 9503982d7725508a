"""Reads outside transactions (`Database.read`): the hot path's own pool survives dropped connections."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, literal, select, text

from spark_gateway.db import point_reads
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from tests.db.test_repository import add_batch


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
async def test_a_point_read_whose_connection_is_cut_mid_query_is_read_again(database: Database) -> None:
    """A restart ends a read in flight: asyncpg hands the lost connection back itself; read on a new one."""
    assert await point_reads.batch(database, await add_batch(database, "r3")) is not None  # opens the pool
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
