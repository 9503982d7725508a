"""Console indexes: newest-first keyset paging over all applications.

The console lists applications by (created_at, gateway_id) descending and pages with
`WHERE (created_at, gateway_id) < cursor`; this index serves that order and range directly, so a page
costs the same at any depth of a million-row table.

Revision ID: 0002_console_indexes
Revises: 0001
"""

from alembic import op

revision = "0002_console_indexes"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_applications_created_at_gateway_id", "applications", ["created_at", "gateway_id"])


def downgrade() -> None:
    op.drop_index("ix_applications_created_at_gateway_id", table_name="applications")
