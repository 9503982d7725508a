"""The console's browse query on both databases: keyset pages with ties, filters, the capped count."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from spark_gateway.db import browsing as queries
from spark_gateway.db import repository as repo
from spark_gateway.db import session_repository as srepo
from spark_gateway.db.engine import Database
from tests.db.test_repository import make_row


async def fill(database: Database) -> None:
    """Six applications, created at only two instants (ties decided by gateway id): two Livy batches,
    one Livy session's driver."""
    instant = repo.utcnow()
    async with database.transaction() as session:
        for i in range(6):
            row = make_row(f"g{i}", owner="alice" if i % 2 else "bob", state="RUNNING" if i < 2 else "")
            row.created_at = instant - timedelta(seconds=0 if i < 3 else 60)
            row.name = f"Job-{i}"
            await repo.insert_application(session, row)
            if i in (1, 4):
                await repo.allocate_batch_id(session, row.gateway_id)
            if i == 2:
                row.source = "livy-session"
                await srepo.allocate_session(session, session_values(row.gateway_id, instant))


def session_values(gateway_id: str, at: datetime) -> dict[str, Any]:
    return {
        "gateway_id": gateway_id,
        "kind": "pyspark",
        "request": {},
        "state": "idle",
        "heartbeat_timeout_s": 0,
        "next_statement_id": 0,
        "created_at": at,
        "last_activity_at": at,
        "last_access_at": at,
    }


async def pages(database: Database, filters: queries.BrowseFilter, size: int) -> list[list[str]]:
    found: list[list[str]] = []
    before = None
    while True:
        async with database.transaction() as session:
            rows = await queries.browse_applications(session, filters, before=before, limit=size)
        if not rows:
            return found
        found.append([r.row.gateway_id for r in rows])
        last = rows[-1].row
        before = (last.created_at, last.gateway_id)


async def test_keyset_pages_split_ties_without_loss_or_repeat(database: Database) -> None:
    await fill(database)
    assert await pages(database, queries.BrowseFilter(), 2) == [["g2", "g1"], ["g0", "g5"], ["g4", "g3"]]
    async with database.transaction() as session:
        rows = await queries.browse_applications(session, queries.BrowseFilter(), before=None, limit=6)
    assert {r.row.gateway_id: r.batch_id for r in rows if r.batch_id is not None} == {"g1": 0, "g4": 1}
    assert {r.row.gateway_id: r.session_id for r in rows if r.session_id is not None} == {"g2": 0}
    assert next(r.row.source for r in rows if r.session_id is not None) == "livy-session"


async def test_filters_combine_and_the_count_stops_at_the_cap(database: Database) -> None:
    await fill(database)
    alice_new = queries.BrowseFilter(visible_to="alice", states=("",))
    assert await pages(database, alice_new, 10) == [["g5", "g3"]]
    assert await pages(database, queries.BrowseFilter(search="job-4"), 10) == [["g4"]]
    assert await pages(database, queries.BrowseFilter(search="_"), 10) == []  # no LIKE wildcard
    assert await pages(database, queries.BrowseFilter(owner="bob", states=("RUNNING",)), 10) == [["g0"]]
    async with database.transaction() as session:
        assert await queries.count_browsed(session, queries.BrowseFilter(), cap=100) == 6
        assert (
            await queries.count_browsed(session, queries.BrowseFilter(), cap=3) == 4
        )  # cap + 1: "more than 3"
        assert await queries.count_browsed(session, alice_new, cap=100) == 2
