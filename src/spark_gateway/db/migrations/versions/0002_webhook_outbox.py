"""Completion webhooks: applications.callback_url, the webhook_events outbox, webhook_deliveries.

Revision ID: 0002_webhook_outbox
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from spark_gateway.db.migrations.ddl import TS

revision = "0002_webhook_outbox"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("applications", sa.Column("callback_url", sa.String(2000), nullable=True))
    op.create_table(
        "webhook_events",
        sa.Column("id", ID, sa.Identity(), nullable=False),
        sa.Column("gateway_id", sa.String(80), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
        sqlite_autoincrement=True,  # ids are never reused after a delete
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", ID, sa.Identity(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("gateway_id", sa.String(80), nullable=False),
        sa.Column("subscriber", sa.String(200), nullable=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("failed_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("event_id", "url", name="uq_webhook_deliveries_event_url"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["delivered_at", "failed_at", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_column("applications", "callback_url")
