"""The console's id search served by a trigram index on `lower(gateway_id)`, not on `gateway_id`.

Migration 0007 indexed `gateway_id gin_trgm_ops`. Since PostgreSQL 14 that operator class serves
plain equality too, every gateway id of a cluster shares its leading trigrams (`local-dflt-…`), and
the planner prices the index far too low for `gateway_id = ANY(…)`: the SparkManager's status writes
looked up 100 ids by bitmap scans of trigram lists every row shares (0.5 to 2.3 s) instead of the
primary key (under a millisecond), and had to switch bitmap scans off for their transaction.

An index on an expression is considered only for predicates on that same expression, so plain
equality on `gateway_id` can no longer pick it, while the console's search, which now matches
`lower(gateway_id) LIKE '%needle%'` (ids case-insensitively, as names already were), still uses it.

Where pg_trgm is missing or may not be created (see 0007) the old index does not exist either: the
new one is skipped with the same warning and the search scans. SQLite has no trigram indexes.

Revision ID: 0010_search_lower_gateway_id
Revises: 0009_livy_superblocks
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0010_search_lower_gateway_id"
down_revision = "0009_livy_superblocks"
branch_labels = None
depends_on = None

log = logging.getLogger("spark_gateway.db.migrations")

OLD = "ix_applications_gateway_id_trgm"
NEW = "ix_applications_gateway_id_lower_trgm"


def _has_trigrams(bind: sa.Connection) -> bool:
    found = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
    if found is None:
        log.warning("pg_trgm is not in this database: the console's id search will scan")
    return found is not None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {OLD}")
    if _has_trigrams(bind):
        expression = "lower(gateway_id) gin_trgm_ops"
        op.execute(f"CREATE INDEX IF NOT EXISTS {NEW} ON applications USING gin ({expression})")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {NEW}")
    if _has_trigrams(bind):
        op.execute(f"CREATE INDEX IF NOT EXISTS {OLD} ON applications USING gin (gateway_id gin_trgm_ops)")
