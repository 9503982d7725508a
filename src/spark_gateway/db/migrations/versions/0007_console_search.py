"""Console name search served by an index on PostgreSQL (pg_trgm), a scan on SQLite.

The console's search matches any part of an application's name (any case) or gateway id:
`lower(name) LIKE '%needle%' OR gateway_id LIKE '%needle%'`. No B-tree serves a pattern that starts
with a wildcard, so on a million rows the search read the whole table. Trigram GIN indexes serve
exactly these infix LIKEs (one bitmap per column, OR-ed), so a search reads only the matching rows.

pg_trgm ships with PostgreSQL's contrib package and is a trusted extension (PostgreSQL 13+): a
database owner may create it. Where it is not installed, or the migrating user may not create it,
the indexes are skipped with a warning and the search keeps working as a scan.

SQLite has no trigram index: there the search walks the newest-first index and stops once a page is
full (fast for common matches), and a rare needle reads the table (acceptable for the embedded
database, which serves small installations).

Revision ID: 0007_console_search
Revises: 0006_livy_batch_blocks
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0007_console_search"
down_revision = "0006_livy_batch_blocks"
branch_labels = None
depends_on = None

log = logging.getLogger("spark_gateway.db.migrations")

INDEXES = {
    "ix_applications_name_trgm": "lower(name) gin_trgm_ops",
    "ix_applications_gateway_id_trgm": "gateway_id gin_trgm_ops",
}


def _trigrams_ready(bind: sa.Connection) -> bool:
    available = bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first()
    if available is None:
        log.warning("pg_trgm is not installed on this server: the console's name search will scan")
        return False
    try:
        with bind.begin_nested():  # a refusal must not abort the migration's transaction
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("cannot create extension pg_trgm (%s): the console's name search will scan", exc.orig)
        return False
    return True


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _trigrams_ready(bind):
        return
    for name, expression in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON applications USING gin ({expression})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in reversed(INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
