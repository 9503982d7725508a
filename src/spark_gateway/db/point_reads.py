"""Single-object reads, each one statement: a Livy batch (with its last log lines, or a page of its
log), an application with its batch id.

They are the API's hottest paths (clients poll them), so each is one round trip: the log lines come
back in the same statement as an aggregate (a JSON array on SQLite, a text[] on PostgreSQL), and the
statements run on `Database.direct` (the driver, without SQLAlchemy's per-call overhead; see
`db.direct`). A state or a log page reads only what it shows and what the access check needs: decoding
the JSON documents (spec, status) cost about as much as running the statement. The statements are
built here once per dialect; `repository` runs the same ones on a SQLAlchemy connection or session.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import Integer, Select, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import aliased

from spark_gateway.db.engine import Database
from spark_gateway.db.models import ApplicationRow, LivyBatchRow, LogLineRow

# The application's columns as a plain row (attribute access like ApplicationRow): reads that only
# turn rows into records skip the ORM's identity map and instance bookkeeping.
APPLICATION_COLUMNS = tuple(ApplicationRow.__table__.columns)
# What an `ApplicationRecord` is made of (`services.stored.application_record`): the point reads
# leave out what only supervision reads (backend_ref, bookkeeping times, idempotency key, webhook).
_NOT_IN_RECORD = frozenset(
    {"backend_ref", "updated_at", "submitted_at", "deleted_at", "idempotency_key", "callback_url"}
)
RECORD_COLUMNS = tuple(c for c in APPLICATION_COLUMNS if c.name not in _NOT_IN_RECORD)

# What a batch's state or log page needs of its application: who may see it, and its state.
ACCESS_COLUMNS = (
    ApplicationRow.gateway_id,
    ApplicationRow.owner,
    ApplicationRow.proxy_user,
    ApplicationRow.state,
)

APPLICATION_READ = (
    select(LivyBatchRow.batch_id, *RECORD_COLUMNS)
    .outerjoin(LivyBatchRow, LivyBatchRow.gateway_id == ApplicationRow.gateway_id)
    .where(ApplicationRow.gateway_id == bindparam("gateway_id"), ApplicationRow.deleted_at.is_(None))
)


def _live_batch(*columns: Any) -> Select[Any]:
    """`columns` of the live batch `:batch_id` and its application."""
    return (
        select(*columns)
        .join(ApplicationRow, ApplicationRow.gateway_id == LivyBatchRow.gateway_id)
        .where(LivyBatchRow.batch_id == bindparam("batch_id"), ApplicationRow.deleted_at.is_(None))
    )


@functools.cache
def batch_statement(dialect: str, recent_lines: int) -> Select[Any]:
    """A live batch by id; with `recent_lines`, its last log lines as column `recent_log`.
    Built once per (dialect, lines): building a statement costs more than running it here."""
    columns: list[Any] = [LivyBatchRow.batch_id, *RECORD_COLUMNS]
    if recent_lines > 0:
        columns.append(_log_lines(dialect, recent_lines, from_end=True).label("recent_log"))
    return _live_batch(*columns)


BATCH_STATE_READ = _live_batch(LivyBatchRow.batch_id, *ACCESS_COLUMNS)


@functools.cache
def batch_log_statement(dialect: str, from_end: bool) -> Select[Any]:
    """A live batch (`batch_id`, `ACCESS_COLUMNS`) with its log's first and last `seq` (`log_low`,
    `log_high`) and a page of its lines (`log_lines`): the last `:lines` (`from_end`), or `:lines` from
    the `:offset`-th kept line on."""
    bounds = [
        select(func.min(LogLineRow.seq)).where(_own_lines()).scalar_subquery().label("log_low"),
        select(func.max(LogLineRow.seq)).where(_own_lines()).scalar_subquery().label("log_high"),
    ]
    page = _log_lines(dialect, bindparam("lines", type_=Integer), from_end=from_end).label("log_lines")
    return BATCH_STATE_READ.add_columns(*bounds, page)


def _own_lines() -> Any:
    return LogLineRow.gateway_id == ApplicationRow.gateway_id


def _log_lines(dialect: str, limit: Any, *, from_end: bool) -> Any:
    """A correlated subquery: `limit` log lines of the application (see `lines_of`)."""
    lines = select(LogLineRow.seq, LogLineRow.line).where(_own_lines())
    if from_end:
        lines = lines.order_by(LogLineRow.seq.desc())
    else:
        kept = aliased(LogLineRow)
        own = kept.gateway_id == ApplicationRow.gateway_id
        low = select(func.min(kept.seq)).where(own).correlate(ApplicationRow).scalar_subquery()
        lines = lines.where(LogLineRow.seq >= low + bindparam("offset", type_=Integer)).order_by(
            LogLineRow.seq
        )
    last = lines.limit(limit).correlate(ApplicationRow).subquery()
    if dialect == "postgresql":
        # A text[] in order: the driver decodes it natively, no JSON built or parsed.
        ordered = func.array_agg(aggregate_order_by(last.c.line, last.c.seq), type_=ARRAY(Text))
        return select(ordered).scalar_subquery()
    pairs = func.json_group_array(func.json_array(last.c.seq, last.c.line))
    return select(pairs).scalar_subquery()


def lines_of(raw: Any) -> list[str]:
    """The lines of a `recent_log` or `log_lines` column, oldest first: PostgreSQL's array is in order
    already, SQLite's JSON array holds [seq, line] pairs in no promised order."""
    if raw is None or isinstance(raw, list):
        return raw or []
    return [line for _, line in sorted(json.loads(raw))]


async def batch(db: Database, batch_id: int, *, recent_lines: int = 0) -> Any | None:
    """A live batch's row (`RECORD_COLUMNS`, `batch_id`, and with `recent_lines` `recent_log`), or
    None."""
    return await db.direct.first(batch_statement(db.dialect, recent_lines), {"batch_id": batch_id})


async def batch_state(db: Database, batch_id: int) -> Any | None:
    """A live batch's `batch_id` and `ACCESS_COLUMNS`, or None."""
    return await db.direct.first(BATCH_STATE_READ, {"batch_id": batch_id})


async def batch_log(db: Database, batch_id: int, *, offset: int | None, lines: int) -> Any | None:
    """A live batch's `batch_id` and `ACCESS_COLUMNS` with `log_low`, `log_high` and `log_lines` (see
    `batch_log_statement`): the last `lines` lines when `offset` is None, else `lines` lines from the
    `offset`-th on."""
    stmt = batch_log_statement(db.dialect, offset is None)
    params = {"batch_id": batch_id, "lines": lines, "offset": offset or 0}
    return await db.direct.first(stmt, params)


async def application(db: Database, gateway_id: str) -> Any | None:
    """A live application's row with its Livy `batch_id` (None when it is not a batch), or None."""
    return await db.direct.first(APPLICATION_READ, {"gateway_id": gateway_id})
