"""Retention: applications that ended long ago, their logs and their webhook rows are deleted.

Why this exists: without it applications, driver log lines, Livy sessions and the webhook outbox grow
without bound. One replica (the holder of the `retention` lease) runs, every
`retention.intervalSeconds`, a pass that
* deletes the applications that reached a terminal state (or were deleted) more than
  `retention.finishedDays` ago, in batches of `retention.batchSize` per transaction, with their log
  lines, Livy batch rows, webhook events and deliveries, and, for a Livy session that has ended, its
  session and statement rows (a session still open keeps its application); delivered or abandoned
  webhook rows of any application go after the same age;
* trims the stored driver log of every application to its last `retention.logLines` lines (writers
  trim when they append; this catches logs stored before the bound was lowered), `batchSize`
  applications per read and at most `TRIM_LINES` deleted lines per transaction, so no transaction
  holds many rows locked.
Batch and session ids are never reused after their rows are gone (PostgreSQL identity, SQLite
AUTOINCREMENT). The maintained counts follow the deletes (triggers of migrations 0005 and 0006).
Leases are not deleted: there is one row per lease name (`supervisor:<cluster>`, `webhooks`,
`retention`), and deleting one would restart its fencing tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, delete, exists, func, or_, select

from spark_gateway.db.engine import Database
from spark_gateway.db.models import (
    ApplicationRow,
    LivyBatchRow,
    LivySessionRow,
    LivyStatementRow,
    LogLineRow,
    WebhookDeliveryRow,
    WebhookEventRow,
)
from spark_gateway.db.repository import utcnow
from spark_gateway.domain.states import TERMINAL_STATES, LivyState
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.supervision.lease import LeaseGuard, LeaseTerm, configured_guard
from spark_gateway.services.supervision.loops import Periodic
from spark_gateway.settings import RetentionConfig

log = logging.getLogger(__name__)

LEASE_NAME = "retention"
FINISHED = [state.value for state in TERMINAL_STATES]
SESSION_OPEN = [s.value for s in LivyState if s.is_active or s == LivyState.SHUTTING_DOWN]
TRIM_LINES = 50_000  # log lines deleted per transaction at most


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
                            ~exists().where(
                                LivySessionRow.gateway_id == ApplicationRow.gateway_id,
                                LivySessionRow.state.in_(SESSION_OPEN),
                            ),
                        )
                        .limit(batch_size)
                    )
                ).scalars()
            )
            if not ids:
                break
            sessions = select(LivySessionRow.session_id).where(LivySessionRow.gateway_id.in_(ids))
            await session.execute(delete(LivyStatementRow).where(LivyStatementRow.session_id.in_(sessions)))
            await session.execute(delete(LivySessionRow).where(LivySessionRow.gateway_id.in_(ids)))
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


async def trim_logs_once(db: Database, *, keep: int, batch_size: int) -> int:
    """Trim every stored driver log to its last `keep` lines; returns how many lines went."""
    trimmed, after = 0, ""
    while True:
        async with db.transaction() as session:
            page = (
                select(ApplicationRow.gateway_id)
                .where(ApplicationRow.gateway_id > after)
                .order_by(ApplicationRow.gateway_id)
                .limit(batch_size)
                .subquery()
            )
            last = (await session.execute(select(func.max(page.c.gateway_id)))).scalar_one_or_none()
            if last is None:
                break
            over = (
                await session.execute(
                    select(LogLineRow.gateway_id, func.min(LogLineRow.seq), func.max(LogLineRow.seq))
                    .where(LogLineRow.gateway_id.in_(select(page.c.gateway_id)))
                    .group_by(LogLineRow.gateway_id)
                    .having(func.max(LogLineRow.seq) - func.min(LogLineRow.seq) >= keep)
                )
            ).all()
        after = last
        for ranges in _chunks([(gid, low, high - keep + 1) for gid, low, high in over]):
            async with db.transaction() as session:  # seq is contiguous per application: ranges are exact
                await session.execute(_DELETE_RANGE, ranges)
            trimmed += sum(int(r["high"]) - int(r["low"]) for r in ranges)
    if trimmed:
        log.info("retention: trimmed %d driver log lines to the last %d per application", trimmed, keep)
    return trimmed


_DELETE_RANGE = delete(cast(Table, LogLineRow.__table__)).where(
    and_(
        LogLineRow.gateway_id == bindparam("gid"),
        LogLineRow.seq >= bindparam("low"),
        LogLineRow.seq < bindparam("high"),
    )
)


def _chunks(spans: list[tuple[str, int, int]]) -> list[list[dict[str, str | int]]]:
    """The [low, high) seq ranges to delete, cut and grouped into at most `TRIM_LINES` per transaction."""
    groups: list[list[dict[str, str | int]]] = []
    current: list[dict[str, str | int]] = []
    size = 0
    for gid, low, high in spans:
        while low < high:
            end = min(high, low + TRIM_LINES - size)
            current.append({"gid": gid, "low": low, "high": end})
            size += end - low
            low = end
            if size >= TRIM_LINES:
                groups.append(current)
                current, size = [], 0
    if current:
        groups.append(current)
    return groups


@dataclass(frozen=True)
class Swept:
    applications: int  # deleted with everything that was theirs
    log_lines: int  # trimmed from logs longer than `retention.logLines`


async def run_pass(db: Database, conf: RetentionConfig) -> Swept:
    """One retention pass: old applications (when `finishedDays` is set), then long logs."""
    purged = 0
    if conf.finishedDays is not None:
        purged = await purge_once(db, finished_days=conf.finishedDays, batch_size=conf.batchSize)
    trimmed = await trim_logs_once(db, keep=conf.log_lines, batch_size=conf.batchSize)
    return Swept(purged, trimmed)


def retention_guard(gateway: GatewayRuntime, holder: str) -> LeaseGuard:
    """The lease guard that runs retention in exactly one gateway process."""
    conf = gateway.settings.retention

    async def sweep() -> None:
        await run_pass(gateway.db, conf)

    async def work(term: LeaseTerm) -> None:
        await Periodic("retention", conf.intervalSeconds, sweep).run(term.stop)

    return configured_guard(
        gateway.db, gateway.settings.lease, LEASE_NAME, work, holder=holder, work_name="retention"
    )
