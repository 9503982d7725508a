"""The Livy and v1 application lists: pages that cost the same at any depth of any history size.

Kept apart from `repository` because a list is several statements working together: a total from the
maintained counts (0005), a page located by the block counts (0006) and walked over the caller's own
index (0008: a user's batches, a user's applications), never a scan over everyone's rows filtered.
Like every repository function, each takes a session and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, tuple_, union
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from spark_gateway.db.models import (
    ALL_PRINCIPALS,
    LIVY_BLOCK,
    LIVY_SUPERBLOCK,
    ApplicationRow,
    LivyBatchBlockRow,
    LivyBatchCountRow,
    LivyBatchPrincipalRow,
    LivyBatchRow,
    LivyBatchSuperblockRow,
)
from spark_gateway.db.point_reads import APPLICATION_COLUMNS
from spark_gateway.db.repository import Reader, visible


async def count_livy_batches(session: Reader, owner: str | None = None) -> int:
    """Live Livy batches the caller may see (`owner=None`: all), from the maintained counts (O(1))."""
    found = await session.execute(_LIVY_COUNT, {"principal": owner or ALL_PRINCIPALS})
    return int(found.scalar_one_or_none() or 0)


_LIVY_COUNT = select(LivyBatchCountRow.live).where(LivyBatchCountRow.principal == bindparam("principal"))


async def list_batches(
    session: Reader, *, offset: int, limit: int, owner: str | None = None
) -> tuple[list[tuple[int, Row[Any]]], int]:
    """A page of Livy batches in id order, and the total the caller may see (`owner=None`: all).

    The total comes from the maintained counts. Near either end the page is one short index walk
    (from the start, or from the end for the last pages); elsewhere the block counts say in which
    block of LIVY_BLOCK ids the page starts, so no page walks more than a block of rows. A user's
    walk is over their own rows of `livy_batch_principals` (0008), not over everyone's batches.
    """
    total = await count_livy_batches(session, owner)
    if owner is not None and owner == ALL_PRINCIPALS:
        total = 0  # no user has an empty name; '' is the all-batches counter
    if limit <= 0 or offset >= total:
        return [], total
    if owner is not None:
        return await _own_batches(session, owner, offset, limit, total), total
    batch_id = LivyBatchRow.batch_id
    base = visible(
        select(batch_id, *APPLICATION_COLUMNS).join(
            ApplicationRow, ApplicationRow.gateway_id == LivyBatchRow.gateway_id
        ),
        None,
    )
    if total - offset <= LIVY_BLOCK:
        end = min(offset + limit, total)
        stmt = base.order_by(batch_id.desc()).offset(total - end).limit(end - offset)
        rows = list(reversed((await session.execute(stmt)).all()))
        return [(r.batch_id, r) for r in rows], total
    if offset >= LIVY_BLOCK:
        first_id, skipped = await _block_of(session, None, offset, total)
        base = base.where(batch_id >= first_id)
        offset -= skipped
    stmt = base.order_by(batch_id).offset(offset).limit(limit)
    return [(r.batch_id, r) for r in (await session.execute(stmt)).all()], total


async def _own_batches(
    session: Reader, owner: str, offset: int, limit: int, total: int
) -> list[tuple[int, Row[Any]]]:
    """A user's page, located like everyone's (from either end, or from its block) but walked over
    their own rows of `livy_batch_principals` alone: the page's ids first (index only), then only
    those batches are joined, so skipping costs index entries and no planner walks everyone's."""
    mine = LivyBatchPrincipalRow
    ids = select(mine.batch_id).where(mine.principal == owner)
    if total - offset <= LIVY_BLOCK:
        end = min(offset + limit, total)
        ids = ids.order_by(mine.batch_id.desc()).offset(total - end).limit(end - offset)
    else:
        if offset >= LIVY_BLOCK:
            first_id, skipped = await _block_of(session, owner, offset, total)
            ids = ids.where(mine.batch_id >= first_id)
            offset -= skipped
        ids = ids.order_by(mine.batch_id).offset(offset).limit(limit)
    page = ids.subquery()
    stmt = (
        select(LivyBatchRow.batch_id, *APPLICATION_COLUMNS)
        .select_from(page)
        .join(LivyBatchRow, LivyBatchRow.batch_id == page.c.batch_id)
        .join(ApplicationRow, ApplicationRow.gateway_id == LivyBatchRow.gateway_id)
    )
    stmt = visible(stmt, owner).order_by(LivyBatchRow.batch_id)  # `visible` again: parties only
    return [(r.batch_id, r) for r in (await session.execute(stmt)).all()]


async def _block_of(session: Reader, owner: str | None, position: int, total: int) -> tuple[int, int]:
    """The first batch id of the block holding the caller's `position`-th visible batch, and how
    many visible batches come before that block: a running sum over the principal's superblocks
    (0009), from whichever end of the list is nearer, then one over the blocks of that superblock
    (two index ranges of at most total/2/65,536 and 256 small rows)."""
    principal = owner or ALL_PRINCIPALS
    supers, blocks = LivyBatchSuperblockRow, LivyBatchBlockRow
    mine = supers.principal == principal
    found = await _running_sum(session, supers.superblock, supers.live, mine, position, total)
    if found is None:  # a write committed between reading `total` and the counts: walk from the start
        return 0, 0
    superblock, before, live = found
    low = superblock * LIVY_SUPERBLOCK
    within = (blocks.principal == principal, blocks.block >= low, blocks.block < low + LIVY_SUPERBLOCK)
    found = await _running_sum(session, blocks.block, blocks.live, and_(*within), position - before, live)
    if found is None:
        return low * LIVY_BLOCK, before
    block, in_super, _ = found
    return int(block) * LIVY_BLOCK, before + in_super


async def _running_sum(
    session: Reader, key: Any, live: Any, where: Any, position: int, total: int
) -> tuple[int, int, int] | None:
    """Among counter rows (`key`, `live`) matching `where` (`total` counted in all), the key holding
    the `position`-th counted item, how many come before it, and its own count; summed from the
    nearer end (at most half the rows), None if the rows no longer hold `position`."""
    from_end = position >= total // 2
    order = key.desc() if from_end else key
    running = (
        select(key.label("key"), live.label("live"), func.sum(live).over(order_by=order).label("upto"))
        .where(where, live > 0)
        .subquery()
    )
    # From the end, item `position` is number total - 1 - position counting back from the last.
    target = total - 1 - position if from_end else position
    stmt = select(running.c.key, running.c.live, running.c.upto).where(running.c.upto > target)
    stmt = stmt.order_by(running.c.key.desc() if from_end else running.c.key).limit(1)
    found = (await session.execute(stmt)).first()
    if found is None:
        return None
    found_key, found_live, upto = (int(v) for v in found)
    before = total - upto if from_end else upto - found_live
    return found_key, max(before, 0), found_live


async def list_applications(
    session: AsyncSession,
    *,
    cluster_id: str | None = None,
    namespace: str | None = None,
    owner: str | None = None,
    limit: int = 100,
    after: tuple[datetime, str] | None = None,
) -> Sequence[ApplicationRow]:
    """Newest first (created_at, then gateway id, descending); `after`: the (created_at, gateway id)
    of the last row of the previous page, so any page is one index range (keyset pagination).

    With `owner`, the page is merged from two such ranges, the owner's and the proxy user's (partial
    indexes of 0008): one range over `owner = x OR proxy_user = x` would be the whole table's,
    filtered, or every one of the user's rows, sorted.
    """
    order = (ApplicationRow.created_at.desc(), ApplicationRow.gateway_id.desc())

    def narrowed(stmt: Any) -> Any:
        if cluster_id is not None:
            stmt = stmt.where(ApplicationRow.cluster_id == cluster_id)
        if namespace is not None:
            stmt = stmt.where(ApplicationRow.namespace == namespace)
        if after is not None:
            stmt = stmt.where(tuple_(ApplicationRow.created_at, ApplicationRow.gateway_id) < tuple_(*after))
        return stmt

    if owner is None:
        stmt = narrowed(visible(select(ApplicationRow), None))
        return (await session.execute(stmt.order_by(*order).limit(limit))).scalars().all()
    live = ApplicationRow.deleted_at.is_(None)  # the partial indexes' condition, spelled the same
    ranges = [
        narrowed(select(ApplicationRow.gateway_id).where(party == owner, live))
        .order_by(*order)
        .limit(limit)
        .subquery()
        for party in (ApplicationRow.owner, ApplicationRow.proxy_user)
    ]
    # Only the merged ids narrow the outer query: any filter there would let the planner drive the
    # page from an index over all of the user's rows instead.
    mine = union(*(select(r.c.gateway_id) for r in ranges)).subquery()
    stmt = select(ApplicationRow).join(mine, mine.c.gateway_id == ApplicationRow.gateway_id)
    return (await session.execute(stmt.order_by(*order).limit(limit))).scalars().all()
