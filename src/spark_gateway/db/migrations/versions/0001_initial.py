"""Initial schema: applications, livy_batches, application_logs, leases.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from spark_gateway.db.migrations.ddl import JSON, TS

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("gateway_id", sa.String(80), nullable=False),
        sa.Column("cluster_id", sa.String(12), nullable=False),
        sa.Column("cluster_name", sa.String(253), nullable=False),
        sa.Column("namespace", sa.String(63), nullable=False),
        sa.Column("owner", sa.String(253), nullable=True),
        sa.Column("proxy_user", sa.String(253), nullable=True),
        sa.Column("name", sa.String(253), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("status", JSON, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("spark_app_id", sa.String(253), nullable=True),
        sa.Column("backend_ref", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("submitted_at", TS, nullable=True),
        sa.Column("terminated_at", TS, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.Column("idempotency_key", sa.String(300), nullable=True),
        sa.PrimaryKeyConstraint("gateway_id", name="pk_applications"),
        sa.UniqueConstraint("idempotency_key", name="uq_applications_idempotency_key"),
    )
    op.create_index("ix_applications_cluster_state", "applications", ["cluster_id", "state"])
    op.create_index("ix_applications_created_at", "applications", ["created_at"])
    op.create_table(
        "livy_batches",
        sa.Column("batch_id", sa.Integer(), sa.Identity(start=0, minvalue=0), nullable=False),
        sa.Column("gateway_id", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_livy_batches"),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["applications.gateway_id"],
            name="fk_livy_batches_gateway_id_applications",
        ),
        sa.UniqueConstraint("gateway_id", name="uq_livy_batches_gateway_id"),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "sqlite":
        # AUTOINCREMENT hands out max(seq, max rowid) + 1 and never reuses ids; seeding -1 starts at 0.
        op.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('livy_batches', -1)")
    op.create_table(
        "application_logs",
        sa.Column("gateway_id", sa.String(80), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("gateway_id", "seq", name="pk_application_logs"),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["applications.gateway_id"],
            name="fk_application_logs_gateway_id_applications",
        ),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("application_logs")
    op.drop_table("livy_batches")
    op.drop_index("ix_applications_created_at", table_name="applications")
    op.drop_index("ix_applications_cluster_state", table_name="applications")
    op.drop_table("applications")
