"""The console's applications table: every application (Livy batches and v1 alike), newest first.

Kept apart from `repository` because its shape is the console's: keyset pages over
(created_at, gateway_id), served by ix_applications_created_at_gateway_id, and a count that stops at a
cap so it stays cheap on a million rows. Like every repository function, each takes a session and
never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from spark_gateway.db.models import ApplicationRow, LivyBatchRow


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
        needle = filters.search.lower()
        stmt = stmt.where(
            or_(
                func.lower(ApplicationRow.name).contains(needle, autoescape=True),
                ApplicationRow.gateway_id.contains(needle, autoescape=True),
            )
        )
    return stmt


async def browse_applications(
    session: AsyncSession,
    filters: BrowseFilter,
    *,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[int | None, ApplicationRow]]:
    """Newest first, Livy batches and v1 applications alike, with their batch id (None for v1).

    Keyset paging: `before` is the (created_at, gateway_id) of the last row of the previous page, so a
    page costs one range scan of ix_applications_created_at_gateway_id however deep it is.
    """
    stmt = select(LivyBatchRow.batch_id, ApplicationRow).outerjoin(
        LivyBatchRow, LivyBatchRow.gateway_id == ApplicationRow.gateway_id
    )
    stmt = _browse_where(stmt, filters)
    if before is not None:
        stmt = stmt.where(tuple_(ApplicationRow.created_at, ApplicationRow.gateway_id) < tuple_(*before))
    stmt = stmt.order_by(ApplicationRow.created_at.desc(), ApplicationRow.gateway_id.desc()).limit(limit)
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


async def count_browsed(session: AsyncSession, filters: BrowseFilter, *, cap: int) -> int:
    """How many applications match, counting at most `cap` + 1 rows (a count stays cheap at 1M rows)."""
    matching = _browse_where(select(literal(1)).select_from(ApplicationRow), filters).limit(cap + 1)
    stmt = select(func.count()).select_from(matching.subquery())
    return int((await session.execute(stmt)).scalar_one())
