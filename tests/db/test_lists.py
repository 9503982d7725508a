"""A user's lists (db/lists.py) after writes by several users: the same rows, order and total as a
plain filter over every application would give, on both databases, at any depth."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, literal, or_, select, update

from spark_gateway.db import lists
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.db.models import ApplicationRow, LivyBatchBlockRow, LivyBatchRow, LivyBatchSuperblockRow
from tests.db.test_repository import make_row

USERS = ("alice", "bob", "carol")


async def history(db: Database) -> None:
    """1050 batches and 150 v1 applications by three users, some run as another user, then deletes,
    a change of owner and hard deletes (as retention does): every way a row leaves or joins a list."""
    base = repo.utcnow()
    async with db.transaction() as session:
        for i in range(1200):
            row = make_row(f"h{i:04d}", owner=USERS[i % 3])
            row.proxy_user = USERS[(i // 3) % 3] if i % 5 == 0 else row.owner
            row.created_at = base + timedelta(seconds=i // 4)  # ties: the gateway id orders them
            await repo.insert_application(session, row)
            if i % 8:
                await repo.allocate_batch_id(session, row.gateway_id)
    async with db.transaction() as session:
        for i in range(0, 1200, 13):
            await repo.mark_deleted(session, f"h{i:04d}")
        for gateway_id, proxy_user in (("h0003", "alice"), ("h0303", "carol")):  # both alice's
            change = update(ApplicationRow).where(ApplicationRow.gateway_id == gateway_id)
            await session.execute(change.values(owner="bob", proxy_user=proxy_user))
        gone = ["h0011", "h0500"]
        await session.execute(delete(LivyBatchRow).where(LivyBatchRow.gateway_id.in_(gone)))
        await session.execute(delete(ApplicationRow).where(ApplicationRow.gateway_id.in_(gone)))


def theirs(stmt, user: str):  # type: ignore[no-untyped-def]
    return stmt.where(
        ApplicationRow.deleted_at.is_(None),
        or_(ApplicationRow.owner == user, ApplicationRow.proxy_user == user),
    )


async def test_a_users_livy_pages_anywhere_are_their_batches_in_id_order(database: Database) -> None:
    await history(database)
    for user in USERS:
        plain = theirs(
            select(LivyBatchRow.batch_id).join(
                ApplicationRow, ApplicationRow.gateway_id == LivyBatchRow.gateway_id
            ),
            user,
        ).order_by(LivyBatchRow.batch_id)
        async with database.transaction() as session:
            expected = list((await session.execute(plain)).scalars())
            assert len(expected) > 256  # pages past the first block start from the block counts
            for offset in (
                0,
                1,
                100,
                255,
                256,
                257,
                300,
                len(expected) - 257,
                len(expected) - 3,
                len(expected),
            ):
                page, total = await lists.list_batches(session, offset=offset, limit=7, owner=user)
                assert total == len(expected)
                assert [b for b, _ in page] == expected[offset : offset + 7], (user, offset)
                assert all(user in (r.owner, r.proxy_user) for _, r in page)


async def test_a_users_v1_pages_walk_their_applications_newest_first_once(database: Database) -> None:
    await history(database)
    for user in USERS:
        newest_first = theirs(select(ApplicationRow.gateway_id), user).order_by(
            ApplicationRow.created_at.desc(), ApplicationRow.gateway_id.desc()
        )
        async with database.transaction() as session:
            expected = list((await session.execute(newest_first)).scalars())
            seen: list[str] = []
            after = None
            while True:
                page = await lists.list_applications(session, owner=user, limit=9, after=after)
                seen += [r.gateway_id for r in page]
                if len(page) < 9:
                    break
                after = (page[-1].created_at, page[-1].gateway_id)
            assert seen == expected, user
            assert await lists.list_applications(session, owner=user, cluster_id="elsewhere") == []


async def test_pages_across_superblocks_match_the_plain_walk(database: Database) -> None:
    """Batch ids far apart (as after years of history): pages start from the superblock counts (0009)
    and then the block counts, for everyone's list and each user's, at any offset."""
    async with database.transaction() as session:
        for i in range(900):
            row = make_row(f"s{i:04d}", owner=USERS[i % 3])
            row.proxy_user = "carol" if i % 7 == 0 else row.owner
            await repo.insert_application(session, row)
            session.add(LivyBatchRow(batch_id=i * 211, gateway_id=row.gateway_id))  # 0 … 189,689
        await session.flush()
    async with database.transaction() as session:
        for i in range(0, 900, 11):
            await repo.mark_deleted(session, f"s{i:04d}")
    blocks, supers = LivyBatchBlockRow, LivyBatchSuperblockRow
    superblock = (blocks.block // literal(256, literal_execute=True)).label("superblock")
    summed = select(blocks.principal, superblock, func.sum(blocks.live)).group_by(
        blocks.principal, superblock
    )
    async with database.transaction() as session:
        expected_counts = {(p, int(s), int(n)) for p, s, n in (await session.execute(summed)).all() if n}
        kept = select(supers.principal, supers.superblock, supers.live).where(supers.live != 0)
        assert set((await session.execute(kept)).all()) == expected_counts
        assert {s for _, s, _ in expected_counts} == {0, 1, 2}
    for user in (None, *USERS):
        plain = select(LivyBatchRow.batch_id).join(
            ApplicationRow, ApplicationRow.gateway_id == LivyBatchRow.gateway_id
        )
        plain = (theirs(plain, user) if user else plain.where(ApplicationRow.deleted_at.is_(None))).order_by(
            LivyBatchRow.batch_id
        )
        async with database.transaction() as session:
            expected = list((await session.execute(plain)).scalars())
            for offset in (*range(0, len(expected), 37), len(expected) - 1):
                page, total = await lists.list_batches(session, offset=offset, limit=4, owner=user)
                assert (total, [b for b, _ in page]) == (len(expected), expected[offset : offset + 4]), (
                    user,
                    offset,
                )
