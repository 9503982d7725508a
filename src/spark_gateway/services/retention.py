"""Retention: applications that ended long ago, their logs and their webhook rows are deleted.

Why this exists: without it applications, driver log lines and the webhook outbox grow without bound.
One replica (the holder of the `retention` lease) deletes, every `retention.intervalSeconds`, the
applications that reached a terminal state (or were deleted) more than `retention.finishedDays` ago,
in batches of `retention.batchSize` per transaction, with their log lines, Livy batch rows and webhook
events and deliveries; delivered or abandoned webhook rows of any application go after the same age.
Batch ids are never reused after their rows are gone (PostgreSQL identity, SQLite AUTOINCREMENT).
Applications that back a Livy session are left to the sessions' own lifecycle.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, exists, or_, select

from spark_gateway.db.engine import Database
from spark_gateway.db.models import (
    ApplicationRow,
    LivyBatchRow,
    LivySessionRow,
    LogLineRow,
    WebhookDeliveryRow,
    WebhookEventRow,
)
from spark_gateway.db.repository import utcnow
from spark_gateway.domain.states import TERMINAL_STATES
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.supervision.lease import LeaseGuard, LeaseTerm, configured_guard
from spark_gateway.services.supervision.loops import Periodic

log = logging.getLogger(__name__)

LEASE_NAME = "retention"
FINISHED = [state.value for state in TERMINAL_STATES]


async def purge_once(db: Database, *, finished_days: float, batch_size: int) -> int:
    """Delete what ended more than `finished_days` ago; returns how many applications went."""
    cutoff = utcnow() - timedelta(days=finished_days)
    purged = 0
    while True:
        async with db.transaction() as session:
            ids = list(
                (
                    await session.execute(
                        select(ApplicationRow.gateway_id)
                        .where(
                            ApplicationRow.updated_at < cutoff,
                            or_(ApplicationRow.state.in_(FINISHED), ApplicationRow.deleted_at.is_not(None)),
                            ~exists().where(LivySessionRow.gateway_id == ApplicationRow.gateway_id),
                        )
                        .limit(batch_size)
                    )
                ).scalars()
            )
            if not ids:
                break
            for table in (LogLineRow, LivyBatchRow, WebhookDeliveryRow, WebhookEventRow):
                await session.execute(delete(table).where(table.gateway_id.in_(ids)))
            await session.execute(delete(ApplicationRow).where(ApplicationRow.gateway_id.in_(ids)))
        purged += len(ids)
    async with db.transaction() as session:  # settled webhook rows of applications still kept
        await session.execute(
            delete(WebhookDeliveryRow).where(
                WebhookDeliveryRow.created_at < cutoff,
                or_(WebhookDeliveryRow.delivered_at.is_not(None), WebhookDeliveryRow.failed_at.is_not(None)),
            )
        )
    if purged:
        log.info("retention: deleted %d applications that ended before %s", purged, cutoff.isoformat())
    return purged


def retention_guard(gateway: GatewayRuntime, holder: str) -> LeaseGuard:
    """The lease guard that runs retention in exactly one gateway process."""
    conf = gateway.settings.retention
    days = conf.finishedDays
    assert days is not None

    async def purge() -> None:
        await purge_once(gateway.db, finished_days=days, batch_size=conf.batchSize)

    async def work(term: LeaseTerm) -> None:
        await Periodic("retention", conf.intervalSeconds, purge).run(term.stop)

    return configured_guard(
        gateway.db, gateway.settings.lease, LEASE_NAME, work, holder=holder, work_name="retention"
    )
