"""Tables: applications, Livy batch ids, stored driver logs, leases, Livy sessions and statements.

Kept portable: the same models and migrations run on SQLite (embedded default) and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _live_index(name: str, *columns: str) -> Index:
    """An index over live (not deleted) applications only, on both databases."""
    live = text("deleted_at IS NULL")
    return Index(name, *columns, sqlite_where=live, postgresql_where=live)


class ApplicationRow(Base):
    __tablename__ = "applications"

    gateway_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(12))
    cluster_name: Mapped[str] = mapped_column(String(253))
    namespace: Mapped[str] = mapped_column(String(63))
    owner: Mapped[str | None] = mapped_column(String(253))
    proxy_user: Mapped[str | None] = mapped_column(String(253))
    name: Mapped[str | None] = mapped_column(String(253))
    source: Mapped[str] = mapped_column(String(16))  # "livy" or "v1"
    spec: Mapped[dict[str, Any]] = mapped_column(JsonType)  # the SparkApplication as submitted
    status: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    state: Mapped[str] = mapped_column(String(32), default="")
    error_message: Mapped[str | None] = mapped_column(Text)
    spark_app_id: Mapped[str | None] = mapped_column(String(253))
    backend_ref: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(300))
    callback_url: Mapped[str | None] = mapped_column(String(2000))  # completion webhook of this submission

    __table_args__ = (
        # Admission: a cluster's New applications, oldest first, in index order (migration 0011).
        Index("ix_applications_admission", "cluster_id", "state", "created_at", "gateway_id"),
        Index("ix_applications_created_at", "created_at"),
        # The console: keyset paging newest first, and per-user views (owner or proxy user).
        Index("ix_applications_created_at_gateway_id", "created_at", "gateway_id"),
        Index("ix_applications_owner", "owner"),
        Index("ix_applications_proxy_user", "proxy_user"),
        # A user's own v1 list, newest first (migration 0008): live rows per owner and per proxy user.
        _live_index("ix_applications_live_owner", "owner", "created_at", "gateway_id"),
        _live_index("ix_applications_live_proxy_user", "proxy_user", "created_at", "gateway_id"),
        UniqueConstraint("idempotency_key", name="uq_applications_idempotency_key"),
    )


class LivyBatchRow(Base):
    """Livy batch ids: an identity column (PostgreSQL) / AUTOINCREMENT (SQLite), starting at 0."""

    __tablename__ = "livy_batches"

    batch_id: Mapped[int] = mapped_column(
        Integer, Identity(start=0, minvalue=0), primary_key=True, autoincrement=True
    )
    gateway_id: Mapped[str] = mapped_column(String(80), ForeignKey("applications.gateway_id"), unique=True)

    __table_args__ = ({"sqlite_autoincrement": True},)


class LogLineRow(Base):
    """One driver log line; `seq` grows per application, old lines are trimmed to a bound."""

    __tablename__ = "application_logs"

    gateway_id: Mapped[str] = mapped_column(
        String(80), ForeignKey("applications.gateway_id"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    line: Mapped[str] = mapped_column(Text)


ALL_PRINCIPALS = ""  # the livy_batch_counts row counting every live batch


class ApplicationCountRow(Base):
    """Live applications per (cluster name, state); kept exact by triggers (migration 0004)."""

    __tablename__ = "application_counts"

    cluster_name: Mapped[str] = mapped_column(String(253), primary_key=True)
    state: Mapped[str] = mapped_column(String(32), primary_key=True)
    live: Mapped[int] = mapped_column(BigInteger)


class LivyBatchCountRow(Base):
    """Live Livy batches per principal ('' = all; a user = owner or proxy user); kept by triggers."""

    __tablename__ = "livy_batch_counts"

    principal: Mapped[str] = mapped_column(String(253), primary_key=True)
    live: Mapped[int] = mapped_column(BigInteger)


class LivyBatchBlockRow(Base):
    """Live Livy batches per principal and block of LIVY_BLOCK batch ids; kept by triggers (0005)."""

    __tablename__ = "livy_batch_blocks"

    principal: Mapped[str] = mapped_column(String(253), primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    live: Mapped[int] = mapped_column(BigInteger)


LIVY_BLOCK = 256  # batch ids per block (migration 0005 computes blocks as batch_id / 256)


class LivyBatchSuperblockRow(Base):
    """Live Livy batches per principal and superblock of LIVY_SUPERBLOCK blocks; kept by triggers
    on livy_batch_blocks (0009)."""

    __tablename__ = "livy_batch_superblocks"

    principal: Mapped[str] = mapped_column(String(253), primary_key=True)
    superblock: Mapped[int] = mapped_column(Integer, primary_key=True)
    live: Mapped[int] = mapped_column(BigInteger)


LIVY_SUPERBLOCK = 256  # blocks per superblock (migration 0009: block / 256)


class LivyBatchPrincipalRow(Base):
    """Who may see each live Livy batch besides admins and viewers: its owner and its proxy user, one
    row each; a user's Livy list is one range of the primary key. Kept by triggers (0008)."""

    __tablename__ = "livy_batch_principals"

    principal: Mapped[str] = mapped_column(String(253), primary_key=True)
    batch_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class LeaseRow(Base):
    """Work that must run in exactly one process at a time (per cluster) is guarded by a lease."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fencing_token: Mapped[int] = mapped_column(BigInteger, default=0)


class LivySessionRow(Base):
    """A Livy interactive session: its own id sequence from 0, its driver application, its runner.

    `state` is the stored lifecycle (starting, idle, shutting_down, error, dead, killed); `busy` is
    derived from open statements when read. Only the hash of the runner's secret is kept.
    """

    __tablename__ = "livy_sessions"

    session_id: Mapped[int] = mapped_column(
        Integer, Identity(start=0, minvalue=0), primary_key=True, autoincrement=True
    )
    gateway_id: Mapped[str] = mapped_column(String(80), ForeignKey("applications.gateway_id"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # Livy's fields, echoed
    state: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str | None] = mapped_column(String(128))
    heartbeat_timeout_s: Mapped[int] = mapped_column(Integer, default=0)
    ttl_s: Mapped[float | None] = mapped_column(Float)
    idle_timeout_s: Mapped[float | None] = mapped_column(Float)
    next_statement_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # for the idle timeout
    last_access_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # for the heartbeat timeout
    runner_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_livy_sessions_state", "state"),
        {"sqlite_autoincrement": True},
    )


class LivyStatementRow(Base):
    """One statement of a session; `output` is Livy's output object as JSON text, null until done."""

    __tablename__ = "livy_statements"

    session_id: Mapped[int] = mapped_column(Integer, ForeignKey("livy_sessions.session_id"), primary_key=True)
    statement_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    output: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    started_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    completed_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookEventRow(Base):
    """An application reached its final state: written in the same transaction as that state, so the
    webhook sender (one replica) learns of every end exactly once, across crashes."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True, autoincrement=True
    )
    gateway_id: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = ({"sqlite_autoincrement": True},)  # ids are never reused after a delete


class WebhookDeliveryRow(Base):
    """One webhook request to one target, retried with back-off until delivered or given up."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True, autoincrement=True
    )
    event_id: Mapped[int] = mapped_column(BigInteger)
    gateway_id: Mapped[str] = mapped_column(String(80))
    subscriber: Mapped[str | None] = mapped_column(String(200))  # None: the submission's callback URL
    url: Mapped[str] = mapped_column(String(2000))
    event: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)  # the exact bytes signed and sent (UTF-8 JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "delivered_at", "failed_at", "next_attempt_at"),
        UniqueConstraint("event_id", "url", name="uq_webhook_deliveries_event_url"),
        {"sqlite_autoincrement": True},
    )
