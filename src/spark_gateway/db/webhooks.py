"""Queries for the webhook outbox: events written with final states, deliveries the sender works off.

Every function takes a session and never commits (as in `repository`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from spark_gateway.db.models import ApplicationRow, LivyBatchRow, WebhookDeliveryRow, WebhookEventRow


async def record_final_event(session: AsyncSession, gateway_id: str, state: str, now: datetime) -> None:
    session.add(WebhookEventRow(gateway_id=gateway_id, state=state, created_at=now))
    await session.flush()


@dataclass
class PendingEvent:
    event: WebhookEventRow
    application: ApplicationRow | None  # None: the row is gone (nothing to report)
    batch_id: int | None


async def pending_events(session: AsyncSession, limit: int) -> list[PendingEvent]:
    """The oldest events not yet turned into deliveries, with their applications (locked rows)."""
    stmt = (
        select(WebhookEventRow, ApplicationRow, LivyBatchRow.batch_id)
        .outerjoin(ApplicationRow, ApplicationRow.gateway_id == WebhookEventRow.gateway_id)
        .outerjoin(LivyBatchRow, LivyBatchRow.gateway_id == WebhookEventRow.gateway_id)
        .order_by(WebhookEventRow.id)
        .limit(limit)
    )
    return [PendingEvent(e, a, b) for e, a, b in (await session.execute(stmt)).all()]


async def add_deliveries(session: AsyncSession, rows: Sequence[WebhookDeliveryRow]) -> None:
    session.add_all(rows)
    await session.flush()


async def delete_events(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(delete(WebhookEventRow).where(WebhookEventRow.id.in_(ids)))


def _open() -> list[object]:
    return [WebhookDeliveryRow.delivered_at.is_(None), WebhookDeliveryRow.failed_at.is_(None)]


async def due_deliveries(session: AsyncSession, now: datetime, limit: int) -> Sequence[WebhookDeliveryRow]:
    stmt = (
        select(WebhookDeliveryRow)
        .where(*_open(), WebhookDeliveryRow.next_attempt_at <= now)  # type: ignore[arg-type]
        .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest open delivery is due (None: nothing is open)."""
    stmt = select(func.min(WebhookDeliveryRow.next_attempt_at)).where(*_open())  # type: ignore[arg-type]
    return (await session.execute(stmt)).scalar_one_or_none()


async def record_attempt(
    session: AsyncSession,
    delivery_id: int,
    *,
    attempts: int,
    now: datetime,
    delivered: bool,
    next_attempt_at: datetime | None,
    error: str | None,
) -> None:
    """Store one attempt's outcome: delivered, retry at `next_attempt_at`, or (None) given up."""
    values: dict[str, object] = {"attempts": attempts, "last_error": error}
    if delivered:
        values["delivered_at"] = now
    elif next_attempt_at is None:
        values["failed_at"] = now
    else:
        values["next_attempt_at"] = next_attempt_at
    await session.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.id == delivery_id, *_open())  # type: ignore[arg-type]
        .values(**values)
    )


async def delivery_counts(session: AsyncSession | AsyncConnection) -> dict[str, int]:
    """Deliveries by outcome (`delivered`, `failed`, `pending`) plus events not yet expanded.

    One statement, so one snapshot: the sender turns an event into a delivery in one transaction, and
    two separate counts could read the event after it was expanded and the deliveries before, so
    `pending` would show 0 while work is still waiting (read-committed and autocommit reads take a
    snapshot per statement).
    """
    events = select(func.count()).select_from(WebhookEventRow).scalar_subquery()
    outcome = select(
        func.count(WebhookDeliveryRow.delivered_at),
        func.count(WebhookDeliveryRow.failed_at),
        func.count(),
        events,
    ).select_from(WebhookDeliveryRow)
    delivered, failed, total, waiting = (await session.execute(outcome)).one()
    return {
        "delivered": int(delivered),
        "failed": int(failed),
        "pending": int(total) - int(delivered) - int(failed),
        "events": int(waiting),
    }


async def purge_finished(session: AsyncSession, before: datetime) -> None:
    """Forget deliveries that ended (delivered or given up) before `before`."""
    await session.execute(
        delete(WebhookDeliveryRow).where(
            func.coalesce(WebhookDeliveryRow.delivered_at, WebhookDeliveryRow.failed_at) < before
        )
    )
