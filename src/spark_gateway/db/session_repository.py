"""Queries for Livy sessions and their statements; each takes a session and never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import column, func, insert, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from spark_gateway.db.models import ApplicationRow, LivySessionRow, LivyStatementRow
from spark_gateway.db.repository import visible

OPEN_STATEMENT_STATES = ("waiting", "running", "cancelling")
ACTIVE_SESSION_STATES = ("not_started", "starting", "idle")


async def allocate_session(session: AsyncSession, values: dict[str, Any]) -> int:
    """Insert a session row; its id comes from the database, starting at 0 (as batch ids do)."""
    stmt = insert(LivySessionRow).values(**values)
    if session.get_bind().dialect.name == "sqlite":
        # The sequence row was seeded with -1 so ids start at 0; one statement, and SQLite has one writer.
        seq = table("sqlite_sequence", column("name"), column("seq"))
        next_id = select(seq.c.seq + 1).where(seq.c.name == "livy_sessions").scalar_subquery()
        stmt = insert(LivySessionRow).values(session_id=next_id, **values)
    result = await session.execute(stmt.returning(LivySessionRow.session_id))
    return int(result.scalar_one())


def _joined() -> Any:
    return select(LivySessionRow, ApplicationRow).join(
        ApplicationRow, ApplicationRow.gateway_id == LivySessionRow.gateway_id
    )


def _counted() -> Any:
    return (
        select(func.count())
        .select_from(LivySessionRow)
        .join(ApplicationRow, ApplicationRow.gateway_id == LivySessionRow.gateway_id)
    )


async def get_session(
    session: AsyncSession, session_id: int, *, for_update: bool = False
) -> tuple[LivySessionRow, ApplicationRow] | None:
    stmt = _joined().where(LivySessionRow.session_id == session_id, ApplicationRow.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update(of=LivySessionRow)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def get_session_by_name(
    session: AsyncSession, name: str, owner: str | None
) -> tuple[LivySessionRow, ApplicationRow] | None:
    stmt = visible(_joined().where(ApplicationRow.name == name), owner)
    row = (await session.execute(stmt.order_by(LivySessionRow.session_id.desc()).limit(1))).first()
    return (row[0], row[1]) if row else None


async def session_for_application(session: AsyncSession, gateway_id: str) -> LivySessionRow | None:
    stmt = select(LivySessionRow).where(LivySessionRow.gateway_id == gateway_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_sessions(
    session: AsyncSession, *, offset: int, limit: int, owner: str | None
) -> tuple[list[tuple[LivySessionRow, ApplicationRow]], int]:
    total = int((await session.execute(visible(_counted(), owner))).scalar_one())
    if limit <= 0 or offset >= total:
        return [], total
    stmt = visible(_joined(), owner).order_by(LivySessionRow.session_id).offset(offset).limit(limit)
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()], total


async def count_active(
    session: AsyncSession, *, cluster_id: str | None = None, user: str | None = None
) -> int:
    stmt = _counted().where(
        LivySessionRow.state.in_(ACTIVE_SESSION_STATES), ApplicationRow.deleted_at.is_(None)
    )
    if cluster_id is not None:
        stmt = stmt.where(ApplicationRow.cluster_id == cluster_id)
    if user is not None:
        stmt = stmt.where(ApplicationRow.owner == user)
    return int((await session.execute(stmt)).scalar_one())


async def active_sessions(session: AsyncSession) -> Sequence[tuple[LivySessionRow, ApplicationRow]]:
    """Sessions not yet ended (deleted ones included, so their drivers get stopped)."""
    stmt = _joined().where(LivySessionRow.state.in_((*ACTIVE_SESSION_STATES, "shutting_down")))
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


async def busy_session_ids(session: AsyncSession, session_ids: Sequence[int]) -> set[int]:
    if not session_ids:
        return set()
    stmt = (
        select(LivyStatementRow.session_id)
        .where(
            LivyStatementRow.session_id.in_(session_ids),
            LivyStatementRow.state.in_(OPEN_STATEMENT_STATES),
        )
        .distinct()
    )
    return set((await session.execute(stmt)).scalars().all())


async def touch(session: AsyncSession, session_id: int, **stamps: datetime) -> None:
    await session.execute(
        update(LivySessionRow).where(LivySessionRow.session_id == session_id).values(**stamps)
    )


# Statements ------------------------------------------------------------------------------------


async def next_statement_id(session: AsyncSession, session_id: int) -> int:
    result = await session.execute(
        update(LivySessionRow)
        .where(LivySessionRow.session_id == session_id)
        .values(next_statement_id=LivySessionRow.next_statement_id + 1)
        .returning(LivySessionRow.next_statement_id)
    )
    return int(result.scalar_one()) - 1


async def insert_statement(session: AsyncSession, row: LivyStatementRow) -> LivyStatementRow:
    session.add(row)
    await session.flush()
    return row


async def get_statement(
    session: AsyncSession, session_id: int, statement_id: int, *, for_update: bool = False
) -> LivyStatementRow | None:
    stmt = select(LivyStatementRow).where(
        LivyStatementRow.session_id == session_id, LivyStatementRow.statement_id == statement_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_statements(
    session: AsyncSession, session_id: int, *, offset: int, limit: int | None, descending: bool
) -> tuple[list[LivyStatementRow], int]:
    total_stmt = select(func.count()).where(LivyStatementRow.session_id == session_id)
    total = int((await session.execute(total_stmt)).scalar_one())
    order = LivyStatementRow.statement_id.desc() if descending else LivyStatementRow.statement_id
    stmt = select(LivyStatementRow).where(LivyStatementRow.session_id == session_id).order_by(order)
    stmt = stmt.offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.execute(stmt)).scalars().all()), total


async def open_statements(session: AsyncSession, session_id: int) -> list[LivyStatementRow]:
    stmt = (
        select(LivyStatementRow)
        .where(
            LivyStatementRow.session_id == session_id,
            LivyStatementRow.state.in_(OPEN_STATEMENT_STATES),
        )
        .order_by(LivyStatementRow.statement_id)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars().all())


async def get_session_including_deleted(session: AsyncSession, session_id: int) -> LivySessionRow | None:
    stmt = select(LivySessionRow).where(LivySessionRow.session_id == session_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
