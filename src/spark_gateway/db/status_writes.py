"""Batched status writes: the SparkManager's rows locked and rewritten by the hundred, in SQLAlchemy Core.

Why not the ORM: loading a batch of `ApplicationRow`s and flushing one UPDATE each cost most of the
manager's CPU at hundreds of changes a second (identity map, attribute history, one statement per row).
Here a batch is one `SELECT … FOR UPDATE` of plain rows and, on PostgreSQL, one `UPDATE … FROM
unnest(arrays)` (a fixed statement, so it is compiled and prepared once, whatever the batch size); on
SQLite an executemany of one Core UPDATE (its statements are in-process calls). The decisions (which
transition, which columns) stay in the services; these functions take a session and never commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    DateTime,
    String,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from spark_gateway.db.models import ApplicationRow, WebhookEventRow

# What a status write reads of a row, and what it writes back (with `updated_at`).
STATUS_COLUMNS = (
    ApplicationRow.gateway_id,
    ApplicationRow.cluster_id,
    ApplicationRow.state,
    ApplicationRow.status,
    ApplicationRow.error_message,
    ApplicationRow.spark_app_id,
    ApplicationRow.submitted_at,
    ApplicationRow.terminated_at,
)
WRITTEN = ("state", "status", "error_message", "spark_app_id", "submitted_at", "terminated_at", "updated_at")
_TYPES: dict[str, Any] = {
    "gateway_id": String,
    "state": String,
    "status": Text,  # JSON text, cast to jsonb in the statement
    "error_message": Text,
    "spark_app_id": String,
    "submitted_at": DateTime(timezone=True),
    "terminated_at": DateTime(timezone=True),
    "updated_at": DateTime(timezone=True),
}


def _pg_statement() -> Any:
    names = ("gateway_id", *WRITTEN)
    arrays = [bindparam(f"b_{name}", type_=ARRAY(_TYPES[name])) for name in names]
    batch = func.unnest(*arrays).table_valued(*(column(name, _TYPES[name]) for name in names))
    batch = batch.render_derived()
    values: dict[str, Any] = {name: batch.c[name] for name in WRITTEN}
    values["status"] = cast(batch.c.status, JSONB)
    # `= ANY(ids)` as well: joined with the function alone, the planner scans the whole table.
    where = (ApplicationRow.gateway_id == batch.c.gateway_id, ApplicationRow.gateway_id == any_(arrays[0]))
    return update(ApplicationRow).where(*where).values(values)


_PG_WRITE = _pg_statement()
_SQLITE_WRITE = (
    update(ApplicationRow)
    .where(ApplicationRow.gateway_id == bindparam("b_gateway_id"))
    .values({name: bindparam(f"b_{name}", type_=getattr(ApplicationRow, name).type) for name in WRITTEN})
)


async def lock_statuses(session: AsyncSession, gateway_ids: Sequence[str]) -> Sequence[Row[Any]]:
    """The status columns of these applications, locked until the transaction ends (in id order, so
    two batches never wait on each other in a cycle)."""
    stmt = select(*STATUS_COLUMNS).where(ApplicationRow.gateway_id.in_(gateway_ids))
    return (await session.execute(stmt.order_by(ApplicationRow.gateway_id).with_for_update())).all()


async def write_statuses(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Rewrite the status columns of several applications: each dict holds `gateway_id` and every
    name in `WRITTEN` (`status` a dict)."""
    if not rows:
        return
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        arrays = {f"b_{name}": [row[name] for row in rows] for name in ("gateway_id", *WRITTEN)}
        arrays["b_status"] = [json.dumps(status) for status in arrays["b_status"]]
        await conn.execute(_PG_WRITE, arrays)
    else:
        await conn.execute(_SQLITE_WRITE, [{f"b_{key}": value for key, value in row.items()} for row in rows])


async def record_final_events(session: AsyncSession, ended: Sequence[tuple[str, str]], now: datetime) -> None:
    """Webhook outbox events for applications that ended in this transaction: (gateway id, state)."""
    if ended:
        rows = [{"gateway_id": gid, "state": state, "created_at": now} for gid, state in ended]
        await (await session.connection()).execute(insert(WebhookEventRow), rows)
