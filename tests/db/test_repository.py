"""Repository behaviour on both databases: batch ids, paging, log retention, soft delete."""

from __future__ import annotations

import asyncio

from spark_gateway.db import lists, migrate
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.db.models import ApplicationRow


def make_row(gateway_id: str, owner: str | None = "alice", state: str = "") -> ApplicationRow:
    now = repo.utcnow()
    return ApplicationRow(
        gateway_id=gateway_id,
        cluster_id="local",
        cluster_name="local",
        namespace="default",
        owner=owner,
        proxy_user=owner,
        name=None,
        source="livy",
        spec={"spec": {}},
        status={},
        state=state,
        backend_ref={},
        created_at=now,
        updated_at=now,
    )


async def add_batch(db: Database, gateway_id: str, owner: str | None = "alice") -> int:
    async with db.transaction() as session:
        await repo.insert_application(session, make_row(gateway_id, owner))
        return await repo.allocate_batch_id(session, gateway_id)


async def test_batch_ids_start_at_zero_and_are_never_reused(database: Database) -> None:
    assert await add_batch(database, "g0") == 0
    assert await add_batch(database, "g1") == 1
    async with database.transaction() as session:
        await repo.mark_deleted(session, "g1")
    assert await add_batch(database, "g2") == 2


async def test_rolled_back_create_stores_nothing(database: Database) -> None:
    try:
        async with database.transaction() as session:
            await repo.insert_application(session, make_row("gone"))
            await repo.allocate_batch_id(session, "gone")
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    async with database.transaction() as session:
        assert await repo.get_application(session, "gone") is None
        _, total = await lists.list_batches(session, offset=0, limit=10)
    assert total == 0


async def test_concurrent_creates_get_unique_ids(database: Database) -> None:
    ids = await asyncio.gather(*(add_batch(database, f"c{i}") for i in range(30)))
    assert sorted(ids) == list(range(30))


async def test_list_batches_pages_by_offset_and_counts_all(database: Database) -> None:
    for i in range(5):
        await add_batch(database, f"p{i}", owner="alice" if i % 2 == 0 else "bob")
    async with database.transaction() as session:
        page, total = await lists.list_batches(session, offset=1, limit=2)
        assert total == 5
        assert [b for b, _ in page] == [1, 2]
        page, total = await lists.list_batches(session, offset=0, limit=100, owner="bob")
        assert total == 2
        assert [row.gateway_id for _, row in page] == ["p1", "p3"]
        page, total = await lists.list_batches(session, offset=10, limit=5)
        assert (page, total) == ([], 5)


async def test_log_is_bounded_to_the_last_lines(database: Database) -> None:
    await add_batch(database, "log")
    async with database.transaction() as session:
        await repo.append_log_lines(session, "log", [f"a{i}" for i in range(8)], keep=10)
        await repo.append_log_lines(session, "log", [f"b{i}" for i in range(5)], keep=10)
    async with database.transaction() as session:
        assert await repo.count_log_lines(session, "log") == 10
        lines = await repo.read_log(session, "log", offset=0, size=100)
        assert lines[0] == "a3" and lines[-1] == "b4"
        assert await repo.read_log(session, "log", offset=8, size=5) == ["b3", "b4"]


async def test_queue_is_in_submission_order_and_skips_deleted(database: Database) -> None:
    for name in ("q0", "q1", "q2"):
        await add_batch(database, name)
    async with database.transaction() as session:
        await repo.mark_deleted(session, "q0")
    async with database.transaction() as session:
        queued = await repo.queued_applications(session, "local", 5)
    assert [r.gateway_id for r in queued] == ["q1", "q2"]


async def test_migrations_are_idempotent(database: Database) -> None:
    await migrate.upgrade(database)
    assert await migrate.current_revision(database) == migrate.head_revision()
