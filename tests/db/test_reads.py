"""Reads outside transactions (`Database.read`): the hot path's own pool survives dropped connections."""

from __future__ import annotations

import pytest
from sqlalchemy import text

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
