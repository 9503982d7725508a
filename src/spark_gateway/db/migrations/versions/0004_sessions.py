"""Livy interactive sessions and their statements.

Revision ID: 0004_sessions
Revises: 0003_console_indexes
"""

import sqlalchemy as sa
from alembic import op

from spark_gateway.db.migrations.ddl import JSON, TS

revision = "0004_sessions"
down_revision = "0003_console_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "livy_sessions",
        sa.Column("session_id", sa.Integer(), sa.Identity(start=0, minvalue=0), nullable=False),
        sa.Column("gateway_id", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=True),
        sa.Column("heartbeat_timeout_s", sa.Integer(), nullable=False),
        sa.Column("ttl_s", sa.Float(), nullable=True),
        sa.Column("idle_timeout_s", sa.Float(), nullable=True),
        sa.Column("next_statement_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_activity_at", TS, nullable=False),
        sa.Column("last_access_at", TS, nullable=False),
        sa.Column("runner_seen_at", TS, nullable=True),
        sa.Column("ended_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name="pk_livy_sessions"),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["applications.gateway_id"], name="fk_livy_sessions_gateway_id_applications"
        ),
        sa.UniqueConstraint("gateway_id", name="uq_livy_sessions_gateway_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_livy_sessions_state", "livy_sessions", ["state"])
    if op.get_bind().dialect.name == "sqlite":
        # As for livy_batches: seeding -1 makes AUTOINCREMENT start at 0.
        op.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('livy_sessions', -1)")
    op.create_table(
        "livy_statements",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("completed_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "statement_id", name="pk_livy_statements"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["livy_sessions.session_id"], name="fk_livy_statements_session_id_livy_sessions"
        ),
    )


def downgrade() -> None:
    op.drop_table("livy_statements")
    op.drop_index("ix_livy_sessions_state", table_name="livy_sessions")
    op.drop_table("livy_sessions")
