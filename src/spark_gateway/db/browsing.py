"""The console's applications table: every application (Livy batches, sessions, v1), newest first.

Kept apart from `repository` because its shape is the console's: keyset pages over
(created_at, gateway_id), served by ix_applications_created_at_gateway_id, and a count that stops at a
cap so it stays cheap on a million rows. Like every repository function, each takes a session and
never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from spark_gateway.db.models import ApplicationRow, LivyBatchRow, LivySessionRow

LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class BrowseFilter:
    """What the console's applications table is narrowed to; None means no condition."""

    visible_to: str | None = None  # the caller's owner filter (see AccessPolicy.visible_owner_filter)
    states: tuple[str, ...] | None = None
    cluster_id: str | None = None
    namespace: str | None = None
    owner: str | None = None  # owner or proxy user
    search: str | None = None  # part of the name or the gateway id, any case


def _browse_where(stmt: Any, filters: BrowseFilter) -> Any:
    stmt = stmt.where(ApplicationRow.deleted_at.is_(None))
    if filters.visible_to is not None:
        stmt = stmt.where(
            or_(ApplicationRow.owner == filters.visible_to, ApplicationRow.proxy_user == filters.visible_to)
        )
    if filters.states is not None:
        stmt = stmt.where(ApplicationRow.state.in_(filters.states))
    if filters.cluster_id is not None:
        stmt = stmt.where(ApplicationRow.cluster_id == filters.cluster_id)
    if filters.namespace is not None:
        stmt = stmt.where(ApplicationRow.namespace == filters.namespace)
    if filters.owner is not None:
        stmt = stmt.where(
            or_(ApplicationRow.owner == filters.owner, ApplicationRow.proxy_user == filters.owner)
        )
    if filters.search:
        # One bound pattern (not '%' || :needle || '%'): PostgreSQL plans it against the trigram
        # indexes of migrations 0007 and 0010 (on these very expressions); SQLite scans (see 0007).
        pattern = f"%{like_escape(filters.search.lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(ApplicationRow.name).like(pattern, escape=LIKE_ESCAPE),
                func.lower(ApplicationRow.gateway_id).like(pattern, escape=LIKE_ESCAPE),
            )
        )
    return stmt


def like_escape(needle: str) -> str:
    """`needle` matched literally inside a LIKE pattern (its wildcards and the escape escaped)."""
    for char in (LIKE_ESCAPE, "%", "_"):
        needle = needle.replace(char, LIKE_ESCAPE + char)
    return needle


async def _plan_for_this_search(session: AsyncSession, filters: BrowseFilter) -> None:
    """On PostgreSQL, plan a search for its own pattern, in this transaction.

    asyncpg prepares statements, and after a few runs PostgreSQL may reuse one generic plan whatever
    the pattern; that plan cannot tell a rare needle (the trigram indexes, milliseconds) from a common
    one (the newest-first index, stopping at a page) and walks the whole table for a rare one.
    """
    if filters.search and session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


@dataclass(frozen=True)
class BrowsedRow:
    """One application of the table, with its Livy batch or session id (None when it is neither)."""

    row: ApplicationRow
    batch_id: int | None
    session_id: int | None


async def browse_applications(
    session: AsyncSession,
    filters: BrowseFilter,
    *,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[BrowsedRow]:
    """Newest first: Livy batches, sessions (their driver applications) and v1 applications alike.

    A session's driver is an application row like any other (source `livy-session`), so the one
    index serves all three kinds; the batch and session ids come from unique-keyed outer joins.

    Keyset paging: `before` is the (created_at, gateway_id) of the last row of the previous page, so a
    page costs one range scan of ix_applications_created_at_gateway_id however deep it is.
    """
    await _plan_for_this_search(session, filters)
    stmt = (
        select(ApplicationRow, LivyBatchRow.batch_id, LivySessionRow.session_id)
        .outerjoin(LivyBatchRow, LivyBatchRow.gateway_id == ApplicationRow.gateway_id)
        .outerjoin(LivySessionRow, LivySessionRow.gateway_id == ApplicationRow.gateway_id)
    )
    stmt = _browse_where(stmt, filters)
    if before is not None:
        stmt = stmt.where(tuple_(ApplicationRow.created_at, ApplicationRow.gateway_id) < tuple_(*before))
    stmt = stmt.order_by(ApplicationRow.created_at.desc(), ApplicationRow.gateway_id.desc()).limit(limit)
    return [BrowsedRow(r[0], r[1], r[2]) for r in (await session.execute(stmt)).all()]


async def count_browsed(session: AsyncSession, filters: BrowseFilter, *, cap: int) -> int:
    """How many applications match, counting at most `cap` + 1 rows (a count stays cheap at 1M rows)."""
    await _plan_for_this_search(session, filters)
    matching = _browse_where(select(literal(1)).select_from(ApplicationRow), filters).limit(cap + 1)
    stmt = select(func.count()).select_from(matching.subquery())
    return int((await session.execute(stmt)).scalar_one())
