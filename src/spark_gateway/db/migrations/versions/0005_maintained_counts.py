"""Maintained counts, so totals and metrics cost O(1) in history size.

`application_counts`: live (not deleted) applications per (cluster name, state), for /metrics and
the SparkManager's gauges. `livy_batch_counts`: live Livy batches per principal, for the `total` of
a Livy list: principal '' counts every batch, a user name counts the batches whose owner or proxy
user it is (the rows `visible_owner_filter` lets that user see).

Database triggers keep both exact in the writer's own transaction, whichever code path writes (API,
supervisor, SparkManager, a replica running older code), so no cache can drift from the rows. On
PostgreSQL, two counters are always locked in one order (a key comparison) so concurrent status
updates cannot deadlock on them.

Revision ID: 0005_maintained_counts
Revises: 0004_sessions
"""

import sqlalchemy as sa
from alembic import op

from spark_gateway.db.migrations.ddl import (
    PG_UNLESS_LIVY_VISIBILITY,
    execute_per_dialect,
    pg_move,
    pg_row_trigger,
    sqlite_on_livy_visibility,
)

revision = "0005_maintained_counts"
down_revision = "0004_sessions"
branch_labels = None
depends_on = None

ALL = "''"  # the principal counting every live batch

SQLITE_TRIGGERS = [
    """
CREATE TRIGGER sg_app_counts_insert AFTER INSERT ON applications WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT OR IGNORE INTO application_counts VALUES (NEW.cluster_name, NEW.state, 0);
    UPDATE application_counts SET live = live + 1
    WHERE cluster_name = NEW.cluster_name AND state = NEW.state;
END""",
    """
CREATE TRIGGER sg_app_counts_update AFTER UPDATE OF cluster_name, state, deleted_at ON applications
WHEN OLD.cluster_name IS NOT NEW.cluster_name OR OLD.state IS NOT NEW.state
    OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
    INSERT OR IGNORE INTO application_counts VALUES (NEW.cluster_name, NEW.state, 0);
    UPDATE application_counts SET live = live - 1
    WHERE cluster_name = OLD.cluster_name AND state = OLD.state AND OLD.deleted_at IS NULL;
    UPDATE application_counts SET live = live + 1
    WHERE cluster_name = NEW.cluster_name AND state = NEW.state AND NEW.deleted_at IS NULL;
END""",
    """
CREATE TRIGGER sg_app_counts_delete AFTER DELETE ON applications WHEN OLD.deleted_at IS NULL
BEGIN
    UPDATE application_counts SET live = live - 1
    WHERE cluster_name = OLD.cluster_name AND state = OLD.state;
END""",
    f"""
CREATE TRIGGER sg_livy_counts_insert AFTER INSERT ON livy_batches
WHEN EXISTS (SELECT 1 FROM applications WHERE gateway_id = NEW.gateway_id AND deleted_at IS NULL)
BEGIN
    INSERT OR IGNORE INTO livy_batch_counts
    SELECT {ALL}, 0
    UNION SELECT owner, 0 FROM applications WHERE gateway_id = NEW.gateway_id AND owner IS NOT NULL
    UNION SELECT proxy_user, 0 FROM applications
        WHERE gateway_id = NEW.gateway_id AND proxy_user IS NOT NULL;
    UPDATE livy_batch_counts SET live = live + 1 WHERE principal IN (
        SELECT {ALL} UNION SELECT owner FROM applications WHERE gateway_id = NEW.gateway_id
        UNION SELECT proxy_user FROM applications WHERE gateway_id = NEW.gateway_id);
END""",
    f"""
CREATE TRIGGER sg_livy_counts_delete AFTER DELETE ON livy_batches
WHEN EXISTS (SELECT 1 FROM applications WHERE gateway_id = OLD.gateway_id AND deleted_at IS NULL)
BEGIN
    UPDATE livy_batch_counts SET live = live - 1 WHERE principal IN (
        SELECT {ALL} UNION SELECT owner FROM applications WHERE gateway_id = OLD.gateway_id
        UNION SELECT proxy_user FROM applications WHERE gateway_id = OLD.gateway_id);
END""",
    f"""
{sqlite_on_livy_visibility("sg_livy_counts_update")}
    UPDATE livy_batch_counts SET live = live - 1
    WHERE OLD.deleted_at IS NULL AND principal IN (SELECT {ALL} UNION SELECT OLD.owner
        UNION SELECT OLD.proxy_user);
    INSERT OR IGNORE INTO livy_batch_counts
    SELECT {ALL}, 0 UNION SELECT NEW.owner, 0 WHERE NEW.owner IS NOT NULL
    UNION SELECT NEW.proxy_user, 0 WHERE NEW.proxy_user IS NOT NULL;
    UPDATE livy_batch_counts SET live = live + 1
    WHERE NEW.deleted_at IS NULL AND principal IN (SELECT {ALL} UNION SELECT NEW.owner
        UNION SELECT NEW.proxy_user);
END""",
]

PG_FUNCTIONS = [
    """
CREATE FUNCTION sg_bump_app(c TEXT, s TEXT, d BIGINT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO application_counts AS t (cluster_name, state, live) VALUES (c, s, d)
    ON CONFLICT (cluster_name, state) DO UPDATE SET live = t.live + EXCLUDED.live
$$""",
    """
CREATE FUNCTION sg_bump_livy(owner TEXT, proxy_user TEXT, d BIGINT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO livy_batch_counts AS t (principal, live)
    SELECT DISTINCT p, d FROM unnest(ARRAY['', owner, proxy_user]) AS p WHERE p IS NOT NULL ORDER BY p
    ON CONFLICT (principal) DO UPDATE SET live = t.live + EXCLUDED.live
$$""",
    f"""
CREATE FUNCTION sg_app_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_live BOOLEAN := TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL;
    new_live BOOLEAN := TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.cluster_name = NEW.cluster_name AND OLD.state = NEW.state
            AND old_live = new_live THEN
        RETURN NULL;
    END IF;
    -- Lock the two counters in key order: concurrent transitions never wait on each other in a cycle.
    IF old_live AND new_live AND (NEW.cluster_name, NEW.state) < (OLD.cluster_name, OLD.state) THEN
        PERFORM sg_bump_app(NEW.cluster_name, NEW.state, 1);
        PERFORM sg_bump_app(OLD.cluster_name, OLD.state, -1);
        RETURN NULL;
    END IF;
{pg_move("sg_bump_app", "{row}.cluster_name, {row}.state", "old_live", "new_live")}""",
    f"""
CREATE FUNCTION sg_livy_counts_app() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{PG_UNLESS_LIVY_VISIBILITY}
    IF NOT EXISTS (SELECT 1 FROM livy_batches WHERE gateway_id = NEW.gateway_id) THEN
        RETURN NULL;
    END IF;
{pg_move("sg_bump_livy", "{row}.owner, {row}.proxy_user")}""",
    """
CREATE FUNCTION sg_livy_counts_batch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    app RECORD;
BEGIN
    SELECT owner, proxy_user, deleted_at INTO app FROM applications
    WHERE gateway_id = CASE WHEN TG_OP = 'INSERT' THEN NEW.gateway_id ELSE OLD.gateway_id END;
    IF FOUND AND app.deleted_at IS NULL THEN
        PERFORM sg_bump_livy(app.owner, app.proxy_user, CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END);
    END IF;
    RETURN NULL;
END
$$""",
    pg_row_trigger(
        "sg_app_counts", "INSERT OR DELETE OR UPDATE OF cluster_name, state, deleted_at", "applications"
    ),
    pg_row_trigger("sg_livy_counts_app", "UPDATE OF owner, proxy_user, deleted_at", "applications"),
    pg_row_trigger("sg_livy_counts_batch", "INSERT OR DELETE", "livy_batches"),
]

FILL_APPLICATION_COUNTS = """
INSERT INTO application_counts (cluster_name, state, live)
SELECT cluster_name, state, count(*) FROM applications WHERE deleted_at IS NULL
GROUP BY cluster_name, state
"""
FILL_LIVY_COUNTS = f"""
INSERT INTO livy_batch_counts (principal, live)
SELECT principal, count(*) FROM (
    SELECT {ALL} AS principal, a.gateway_id FROM applications a
        JOIN livy_batches b ON b.gateway_id = a.gateway_id WHERE a.deleted_at IS NULL
    UNION
    SELECT a.owner, a.gateway_id FROM applications a
        JOIN livy_batches b ON b.gateway_id = a.gateway_id WHERE a.deleted_at IS NULL AND a.owner IS NOT NULL
    UNION
    SELECT a.proxy_user, a.gateway_id FROM applications a
        JOIN livy_batches b ON b.gateway_id = a.gateway_id
        WHERE a.deleted_at IS NULL AND a.proxy_user IS NOT NULL
) AS visible GROUP BY principal
"""


def upgrade() -> None:
    op.create_table(
        "application_counts",
        sa.Column("cluster_name", sa.String(253), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("live", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cluster_name", "state", name="pk_application_counts"),
    )
    op.create_table(
        "livy_batch_counts",
        sa.Column("principal", sa.String(253), nullable=False),
        sa.Column("live", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("principal", name="pk_livy_batch_counts"),
    )
    op.execute(FILL_APPLICATION_COUNTS)
    op.execute(FILL_LIVY_COUNTS)
    execute_per_dialect(SQLITE_TRIGGERS, PG_FUNCTIONS)


def downgrade() -> None:
    sqlite_triggers = ["app_counts_insert", "app_counts_update", "app_counts_delete"]
    sqlite_triggers += ["livy_counts_insert", "livy_counts_delete", "livy_counts_update"]
    pg_functions = ("app_counts", "livy_counts_app", "livy_counts_batch")
    execute_per_dialect(
        [f"DROP TRIGGER sg_{name}" for name in sqlite_triggers],
        [
            "DROP TRIGGER sg_app_counts ON applications",
            "DROP TRIGGER sg_livy_counts_app ON applications",
            "DROP TRIGGER sg_livy_counts_batch ON livy_batches",
            *(f"DROP FUNCTION sg_{name}()" for name in pg_functions),
            "DROP FUNCTION sg_bump_app(TEXT, TEXT, BIGINT)",
            "DROP FUNCTION sg_bump_livy(TEXT, TEXT, BIGINT)",
        ],
    )
    op.drop_table("livy_batch_counts")
    op.drop_table("application_counts")
