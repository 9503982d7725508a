"""Maintained counts (migrations 0004, 0005) agree with the rows they count, whatever the writes did."""

from __future__ import annotations

from sqlalchemy import func, select

from spark_gateway.db import lists
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.db.models import ApplicationRow, LivyBatchRow
from tests.db.test_repository import add_batch, make_row


async def recounted(db: Database, owner: str | None) -> int:
    stmt = (
        select(func.count())
        .select_from(LivyBatchRow)
        .join(ApplicationRow, ApplicationRow.gateway_id == LivyBatchRow.gateway_id)
        .where(ApplicationRow.deleted_at.is_(None))
    )
    if owner is not None:
        stmt = stmt.where((ApplicationRow.owner == owner) | (ApplicationRow.proxy_user == owner))
    async with db.transaction() as session:
        return int((await session.execute(stmt)).scalar_one())


async def test_livy_totals_follow_creates_deletes_and_proxy_users(database: Database) -> None:
    for i in range(5):
        await add_batch(database, f"a{i}", owner="alice")
    await add_batch(database, "b0", owner="bob")
    async with database.transaction() as session:
        row = make_row("p0", owner="carol")
        row.proxy_user = "alice"  # carol runs it as alice: both see it, and it counts once for each
        await repo.insert_application(session, row)
        await repo.allocate_batch_id(session, "p0")
        await repo.insert_application(session, make_row("v1-only", owner="alice"))  # not a batch
        await repo.mark_deleted(session, "a1")
    async with database.transaction() as session:
        await repo.mark_deleted(session, "a1")  # deleting twice changes nothing
        await repo.mark_deleted(session, "b0")
    for owner in (None, "alice", "bob", "carol", "nobody"):
        async with database.transaction() as session:
            assert await lists.count_livy_batches(session, owner) == await recounted(database, owner)
    async with database.transaction() as session:
        assert await lists.count_livy_batches(session, None) == 5
        assert await lists.count_livy_batches(session, "alice") == 5


async def test_metric_counts_follow_states_and_deletes(database: Database) -> None:
    async with database.transaction() as session:
        for i in range(4):
            await repo.insert_application(session, make_row(f"m{i}"))
    async with database.transaction() as session:
        row = await repo.get_application(session, "m0")
        assert row is not None
        await repo.save(session, row, state="RUNNING")
        row = await repo.get_application(session, "m1")
        assert row is not None
        await repo.save(session, row, state="RUNNING")
        await repo.save(session, row, state="COMPLETED")
        await repo.mark_deleted(session, "m2")
    async with database.transaction() as session:
        counts = sorted(await repo.count_by_cluster_and_state(session))
    assert counts == [("local", "", 1), ("local", "COMPLETED", 1), ("local", "RUNNING", 1)]


async def test_back_half_pages_match_front_order(database: Database) -> None:
    for i in range(9):
        await add_batch(database, f"g{i}", owner="alice" if i % 2 else "bob")
    async with database.transaction() as session:
        await repo.mark_deleted(session, "g4")
    for owner in (None, "alice"):
        async with database.transaction() as session:
            everything, total = await lists.list_batches(session, offset=0, limit=100, owner=owner)
            ids = [b for b, _ in everything]
            for offset in range(total + 1):
                page, _ = await lists.list_batches(session, offset=offset, limit=3, owner=owner)
                assert [b for b, _ in page] == ids[offset : offset + 3]


async def test_pages_anywhere_match_the_plain_offset_walk(database: Database) -> None:
    """Past the first block the page starts from the block counts (0005): the same batches as a walk."""
    async with database.transaction() as session:
        for i in range(1200):
            row = make_row(f"k{i}", owner="alice" if i % 3 else "bob")
            if i % 7 == 0:
                row.proxy_user = "carol"
            await repo.insert_application(session, row)
            await repo.allocate_batch_id(session, f"k{i}")
    async with database.transaction() as session:
        for i in range(0, 1200, 11):
            await repo.mark_deleted(session, f"k{i}")
    for owner in (None, "alice", "bob", "carol"):
        async with database.transaction() as session:
            everything, total = await lists.list_batches(session, offset=0, limit=5000, owner=owner)
            assert total == len(everything) == await recounted(database, owner)
            ids = [b for b, _ in everything]
            offsets = (0, 3, *range(250, 262), 300, 400, 511, 512, 513, total - 257, total - 256, total - 1)
            for offset in (o for o in offsets if 0 <= o < total):
                page, _ = await lists.list_batches(session, offset=offset, limit=5, owner=owner)
                assert [b for b, _ in page] == ids[offset : offset + 5], (owner, offset)
