"""Console indexes: newest-first keyset paging over all applications, and per-user views.

The console lists applications by (created_at, gateway_id) descending and pages with
`WHERE (created_at, gateway_id) < cursor`; the first index serves that order and range directly, so a
page costs the same at any depth of a million-row table. A user who is neither admin nor viewer sees
rows whose owner or proxy user is them (as does the owner filter): the owner and proxy-user indexes
let the database count those without reading everyone's rows.

Revision ID: 0003_console_indexes
Revises: 0002_webhook_outbox
"""

from alembic import op

revision = "0003_console_indexes"
down_revision = "0002_webhook_outbox"
branch_labels = None
depends_on = None


INDEXES = {
    "ix_applications_created_at_gateway_id": ["created_at", "gateway_id"],
    "ix_applications_owner": ["owner"],
    "ix_applications_proxy_user": ["proxy_user"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "applications", columns)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="applications")
