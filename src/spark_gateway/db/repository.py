"""Repository functions: every query the services need, each taking a session and never committing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from spark_gateway.db.models import (
    ApplicationCountRow,
    ApplicationRow,
    LeaseRow,
    LivyBatchRow,
    LogLineRow,
)
from spark_gateway.db.point_reads import APPLICATION_COLUMNS, APPLICATION_READ, batch_statement, lines_of
from spark_gateway.domain.states import TERMINAL_STATES, AppState

# Read-only queries run in a session (inside a unit of work) or on a bare autocommit connection.
Reader = AsyncSession | AsyncConnection


def _dialect(session: Reader) -> str:
    bind = session.get_bind() if isinstance(session, AsyncSession) else session
    return bind.dialect.name


def utcnow() -> datetime:
    return datetime.now(UTC)


async def insert_application(session: AsyncSession, row: ApplicationRow) -> ApplicationRow:
    session.add(row)
    await session.flush()
    return row


async def allocate_batch_id(session: AsyncSession, gateway_id: str) -> int:
    """A new Livy batch id from the database: identity on PostgreSQL, AUTOINCREMENT sequence on SQLite."""
    if session.get_bind().dialect.name == "sqlite":
        # The sequence row was seeded with -1 so ids start at 0; one statement, and SQLite has one writer.
        result = await session.execute(
            text(
                "INSERT INTO livy_batches (batch_id, gateway_id) VALUES ("
                "(SELECT seq + 1 FROM sqlite_sequence WHERE name = 'livy_batches'), :gid) "
                "RETURNING batch_id"
            ),
            {"gid": gateway_id},
        )
    else:
        result = await session.execute(
            insert(LivyBatchRow).values(gateway_id=gateway_id).returning(LivyBatchRow.batch_id)
        )
    return int(result.scalar_one())


async def get_application(
    session: AsyncSession, gateway_id: str, *, include_deleted: bool = False, for_update: bool = False
) -> ApplicationRow | None:
    stmt = select(ApplicationRow).where(ApplicationRow.gateway_id == gateway_id)
    if not include_deleted:
        stmt = stmt.where(ApplicationRow.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_idempotency_key(session: AsyncSession, key: str) -> ApplicationRow | None:
    stmt = select(ApplicationRow).where(ApplicationRow.idempotency_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_batch(session: Reader, batch_id: int, *, recent_lines: int = 0) -> tuple[int, Row[Any]] | None:
    """A live batch; with `recent_lines`, also its last log lines as `row.recent_log` (use
    `recent_log_of(row)`), in the same statement: a status poll is one round trip. (The API reads it
    with `point_reads.batch`, on the driver.)"""
    stmt = batch_statement(_dialect(session), recent_lines)
    row = (await session.execute(stmt, {"batch_id": batch_id})).first()
    return (row.batch_id, row) if row else None


def recent_log_of(row: Row[Any]) -> list[str]:
    """The lines `get_batch(..., recent_lines=n)` fetched, oldest first."""
    return lines_of(row.recent_log)


async def read_application(session: Reader, gateway_id: str) -> Row[Any] | None:
    """A live application with its Livy batch id (None when it is not a batch), in one statement."""
    return (await session.execute(APPLICATION_READ, {"gateway_id": gateway_id})).first()


async def batch_id_for(session: AsyncSession, gateway_id: str) -> int | None:
    stmt = select(LivyBatchRow.batch_id).where(LivyBatchRow.gateway_id == gateway_id)
    return (await session.execute(stmt)).scalar_one_or_none()


def visible(stmt: Any, owner: str | None) -> Any:
    """Only live applications, and with `owner`, only those the owner submitted or runs as."""
    stmt = stmt.where(ApplicationRow.deleted_at.is_(None))
    if owner is not None:
        stmt = stmt.where(or_(ApplicationRow.owner == owner, ApplicationRow.proxy_user == owner))
    return stmt


async def queued_applications(session: AsyncSession, cluster_id: str, limit: int) -> Sequence[ApplicationRow]:
    """Applications waiting for admission (state New), oldest first, locked against other workers."""
    stmt = (
        select(ApplicationRow)
        .where(
            ApplicationRow.cluster_id == cluster_id,
            ApplicationRow.state == AppState.NEW.value,
            ApplicationRow.deleted_at.is_(None),
        )
        .order_by(ApplicationRow.created_at, ApplicationRow.gateway_id)  # the admission index's order (0011)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return (await session.execute(stmt)).scalars().all()


async def active_applications(session: AsyncSession, cluster_id: str) -> Sequence[ApplicationRow]:
    """Applications launched on the cluster and not yet terminal (including deleted-but-running)."""
    stmt = select(ApplicationRow).where(
        ApplicationRow.cluster_id == cluster_id,
        ApplicationRow.state.not_in([AppState.NEW.value, *(state.value for state in TERMINAL_STATES)]),
    )
    return (await session.execute(stmt)).scalars().all()


async def save(session: AsyncSession, row: ApplicationRow, **changes: Any) -> None:
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    await session.flush()


async def mark_deleted(session: AsyncSession, gateway_id: str) -> None:
    await session.execute(
        update(ApplicationRow)
        .where(ApplicationRow.gateway_id == gateway_id)
        .values(deleted_at=utcnow(), updated_at=utcnow())
    )


# Logs ------------------------------------------------------------------------------------------


async def log_bounds(session: Reader, gateway_id: str) -> tuple[int, int] | None:
    """The first and last stored `seq` of an application's log (None: no log); one index probe each."""
    low, high = (await session.execute(_LOG_BOUNDS, {"gateway_id": gateway_id})).one()
    return None if low is None else (int(low), int(high))


# Hot statements built once (building one costs more than running it): bound at execution.
_LOG_BOUNDS = select(func.min(LogLineRow.seq), func.max(LogLineRow.seq)).where(
    LogLineRow.gateway_id == bindparam("gateway_id")
)
_LOG_RANGE = (
    select(LogLineRow.line)
    .where(
        LogLineRow.gateway_id == bindparam("gateway_id"),
        LogLineRow.seq >= bindparam("low"),
        LogLineRow.seq < bindparam("high"),
    )
    .order_by(LogLineRow.seq)
)


async def append_log_lines(
    session: AsyncSession, gateway_id: str, lines: Sequence[str], *, keep: int
) -> None:
    """Append lines and trim the stored log to its last `keep` lines."""
    if not lines:
        return
    lines = list(lines)[-keep:]
    bounds = await log_bounds(session, gateway_id)
    start = bounds[1] + 1 if bounds else 0
    await session.execute(
        insert(LogLineRow),
        [{"gateway_id": gateway_id, "seq": start + i, "line": line} for i, line in enumerate(lines)],
    )
    first_kept = start + len(lines) - keep
    if bounds and bounds[0] < first_kept:
        await session.execute(
            delete(LogLineRow).where(LogLineRow.gateway_id == gateway_id, LogLineRow.seq < first_kept)
        )


async def count_log_lines(session: Reader, gateway_id: str) -> int:
    bounds = await log_bounds(session, gateway_id)
    return 0 if bounds is None else bounds[1] - bounds[0] + 1


async def read_log(
    session: Reader,
    gateway_id: str,
    *,
    offset: int,
    size: int,
    bounds: tuple[int, int] | Literal["unknown"] | None = "unknown",
) -> list[str]:
    """Lines [offset, offset+size) of the stored log (offset 0 = oldest line kept); pass `bounds`
    when the caller has just read them."""
    if bounds == "unknown":
        bounds = await log_bounds(session, gateway_id)
    if bounds is None or size <= 0:
        return []
    low = bounds[0] + max(offset, 0)
    params = {"gateway_id": gateway_id, "low": low, "high": low + size}
    return list((await session.execute(_LOG_RANGE, params)).scalars().all())


async def get_batch_by_name(
    session: Reader, name: str, owner: str | None = None
) -> tuple[int, Row[Any]] | None:
    """The newest live batch named `name` whose owner or proxy user is `owner` (None: anyone's).

    Livy resolves non-numeric path ids as names; another user's batch of the same name neither hides
    the caller's own nor reveals that it exists.
    """
    stmt = (
        select(LivyBatchRow.batch_id, *APPLICATION_COLUMNS)
        .join(ApplicationRow, ApplicationRow.gateway_id == LivyBatchRow.gateway_id)
        .where(ApplicationRow.name == name)
    )
    stmt = visible(stmt, owner).order_by(LivyBatchRow.batch_id.desc()).limit(1)
    row = (await session.execute(stmt)).first()
    return (row.batch_id, row) if row else None


_UNION_CHUNK = 200


async def recent_logs(session: Reader, gateway_ids: Sequence[str], lines: int) -> dict[str, list[str]]:
    """The last `lines` log lines of each application, one index range each, in as few round trips as
    SQLite allows (at most 500 terms in one compound SELECT; chunks of `_UNION_CHUNK`)."""
    found: dict[str, list[tuple[int, str]]] = {gid: [] for gid in gateway_ids}
    if not gateway_ids or lines <= 0:
        return {gid: [] for gid in gateway_ids}
    for start in range(0, len(gateway_ids), _UNION_CHUNK):
        parts = [
            select(LogLineRow.gateway_id, LogLineRow.seq, LogLineRow.line)
            .where(LogLineRow.gateway_id == gid)
            .order_by(LogLineRow.seq.desc())
            .limit(lines)
            .subquery()
            .select()
            for gid in gateway_ids[start : start + _UNION_CHUNK]
        ]
        stmt = parts[0] if len(parts) == 1 else union_all(*parts)
        for gid, seq, line in (await session.execute(stmt)).all():
            found[gid].append((seq, line))
    return {gid: [line for _, line in sorted(rows)] for gid, rows in found.items()}


# Leases ----------------------------------------------------------------------------------------
# Each lease statement is one conditional INSERT/UPDATE judged by the database clock (`now()` on
# PostgreSQL; on SQLite, a single-machine database, the local clock is the database's clock).


@dataclass(frozen=True)
class LeaseState:
    holder: str
    fencing_token: int
    seconds_left: float  # until expiry by the database clock; <= 0 when expired


def _lease_now(session: AsyncSession) -> Any:
    return func.now() if session.get_bind().dialect.name == "postgresql" else utcnow()


async def acquire_lease(session: AsyncSession, name: str, holder: str, ttl_s: float) -> int | None:
    """Take the lease if it is free, expired or already ours; the new fencing token, else None.

    Every acquisition increments the fencing token, so a term is identified by (holder, token).
    """
    now = _lease_now(session)
    expires = now + timedelta(seconds=ttl_s)
    insert_fn = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert_fn(LeaseRow)
        .values(name=name, holder=holder, acquired_at=now, expires_at=expires, fencing_token=1)
        .on_conflict_do_update(
            index_elements=[LeaseRow.name],
            set_={
                "holder": holder,
                "acquired_at": now,
                "expires_at": expires,
                "fencing_token": LeaseRow.fencing_token + 1,
            },
            where=or_(LeaseRow.expires_at <= now, LeaseRow.holder == holder),
        )
        .returning(LeaseRow.fencing_token)
    )
    token = (await session.execute(stmt)).scalar_one_or_none()
    return None if token is None else int(token)


async def renew_lease(session: AsyncSession, name: str, holder: str, token: int, ttl_s: float) -> bool:
    """Extend our unexpired lease by `ttl_s` from now; False when it is no longer ours."""
    now = _lease_now(session)
    stmt = (
        update(LeaseRow)
        .where(
            LeaseRow.name == name,
            LeaseRow.holder == holder,
            LeaseRow.fencing_token == token,
            LeaseRow.expires_at > now,
        )
        .values(expires_at=now + timedelta(seconds=ttl_s))
        .returning(LeaseRow.fencing_token)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def release_lease(session: AsyncSession, name: str, holder: str, token: int) -> bool:
    """Expire our lease now so a successor can take it at once; False when it was not ours."""
    now = _lease_now(session)
    stmt = (
        update(LeaseRow)
        .where(LeaseRow.name == name, LeaseRow.holder == holder, LeaseRow.fencing_token == token)
        .values(expires_at=now)
        .returning(LeaseRow.fencing_token)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def lease_is_held(
    session: AsyncSession, name: str, holder: str, token: int, *, lock: bool = False
) -> bool:
    """Whether (holder, token) holds the lease now. `lock` takes a share lock on PostgreSQL, so no
    one can take the lease over until the caller's transaction ends (fencing a write)."""
    stmt = select(LeaseRow.fencing_token).where(
        LeaseRow.name == name,
        LeaseRow.holder == holder,
        LeaseRow.fencing_token == token,
        LeaseRow.expires_at > _lease_now(session),
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def get_lease(session: AsyncSession, name: str) -> LeaseState | None:
    postgres = session.get_bind().dialect.name == "postgresql"
    now_col = func.now() if postgres else literal(None)
    stmt = select(LeaseRow.holder, LeaseRow.fencing_token, LeaseRow.expires_at, now_col).where(
        LeaseRow.name == name
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    holder, token, expires_at, db_now = row
    if not postgres or db_now is None:
        db_now = utcnow()
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return LeaseState(str(holder), int(token), (expires_at - db_now).total_seconds())


async def limit_idle_transaction(session: AsyncSession, seconds: float) -> None:
    """On PostgreSQL, end this session if it idles inside the current transaction for `seconds`.

    Lease and fenced transactions hold locks on the lease row; a holder frozen mid-transaction (a long
    pause, a stalled VM) must not keep its successor waiting for longer than that.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT set_config('idle_in_transaction_session_timeout', :ms, true)"),
            {"ms": str(max(int(seconds * 1000), 1))},
        )


async def ping(session: AsyncSession) -> None:
    """A trivial round trip: raises when the database does not answer."""
    await session.execute(text("SELECT 1"))


async def count_by_cluster_and_state(session: AsyncSession | AsyncConnection) -> list[tuple[str, str, int]]:
    """Live applications per (cluster name, state), for the gateway's metrics (maintained counts)."""
    stmt = select(
        ApplicationCountRow.cluster_name, ApplicationCountRow.state, ApplicationCountRow.live
    ).where(ApplicationCountRow.live > 0)
    return [(c, s, int(n)) for c, s, n in (await session.execute(stmt)).all()]
