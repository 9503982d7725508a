"""A user's own lists cost what an admin's cost: per-user indexes for Livy batches and v1 applications.

A user who is neither admin nor viewer sees the applications whose owner or proxy user they are. Both
lists filtered the whole table for those rows: the Livy list walked every batch in id order and kept
the user's, the v1 list walked the newest-first index the same way, so a user owning one batch in a
hundred read a hundred rows per row listed, and their first page at a million batches cost 25 times
the same page at a thousand.

`livy_batch_principals`: one row per live Livy batch and user who may see it (its owner, its proxy
user), keyed (principal, batch_id). A user's Livy page is one range of it, in the list's id order,
starting from the block that `livy_batch_blocks` (0006) locates. Kept exact by triggers in the
writer's transaction, like the counts of 0005 and the blocks of 0006 (principals as there, without
'': the all-batches list walks `livy_batches` itself).

Partial indexes on (owner, created_at, gateway_id) and (proxy_user, created_at, gateway_id) over live
applications: a user's v1 page is the newest-first ranges of both, merged (db/lists.py).

Revision ID: 0008_owner_lists
Revises: 0007_console_search
"""

import sqlalchemy as sa
from alembic import op

from spark_gateway.db.migrations.ddl import (
    execute_per_dialect,
    pg_livy_visibility_function,
    pg_row_trigger,
    sqlite_on_livy_visibility,
)

revision = "0008_owner_lists"
down_revision = "0007_console_search"
branch_labels = None
depends_on = None

LIVE = "deleted_at IS NULL"
INDEXES = {
    "ix_applications_live_owner": ["owner", "created_at", "gateway_id"],
    "ix_applications_live_proxy_user": ["proxy_user", "created_at", "gateway_id"],
}

SQLITE_TRIGGERS = [
    """
CREATE TRIGGER sg_livy_principals_insert AFTER INSERT ON livy_batches
BEGIN
    INSERT OR IGNORE INTO livy_batch_principals (principal, batch_id)
    SELECT owner, NEW.batch_id FROM applications
        WHERE gateway_id = NEW.gateway_id AND deleted_at IS NULL AND owner IS NOT NULL
    UNION SELECT proxy_user, NEW.batch_id FROM applications
        WHERE gateway_id = NEW.gateway_id AND deleted_at IS NULL AND proxy_user IS NOT NULL;
END""",
    """
CREATE TRIGGER sg_livy_principals_delete AFTER DELETE ON livy_batches
BEGIN
    DELETE FROM livy_batch_principals WHERE batch_id = OLD.batch_id AND principal IN (
        SELECT owner FROM applications WHERE gateway_id = OLD.gateway_id
        UNION SELECT proxy_user FROM applications WHERE gateway_id = OLD.gateway_id);
END""",
    f"""
{sqlite_on_livy_visibility("sg_livy_principals_update")}
    DELETE FROM livy_batch_principals
    WHERE batch_id = (SELECT batch_id FROM livy_batches WHERE gateway_id = OLD.gateway_id)
        AND principal IN (OLD.owner, OLD.proxy_user);
    INSERT OR IGNORE INTO livy_batch_principals (principal, batch_id)
    SELECT p, (SELECT batch_id FROM livy_batches WHERE gateway_id = NEW.gateway_id)
    FROM (SELECT NEW.owner AS p UNION SELECT NEW.proxy_user)
    WHERE p IS NOT NULL AND NEW.deleted_at IS NULL;
END""",
]

PG_STATEMENTS = [
    # d > 0: the batch became visible to its owner and proxy user; d < 0: it no longer is.
    """
CREATE FUNCTION sg_move_livy_principals(o TEXT, pu TEXT, bid INTEGER, d BIGINT)
RETURNS void LANGUAGE sql AS $$
    DELETE FROM livy_batch_principals WHERE d < 0 AND batch_id = bid AND principal IN (o, pu);
    INSERT INTO livy_batch_principals (principal, batch_id)
    SELECT DISTINCT p, bid FROM unnest(ARRAY[o, pu]) AS p WHERE d > 0 AND p IS NOT NULL
    ON CONFLICT DO NOTHING
$$""",
    pg_livy_visibility_function("sg_livy_principals_app", "sg_move_livy_principals"),
    """
CREATE FUNCTION sg_livy_principals_batch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    app RECORD;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT owner, proxy_user, deleted_at INTO app FROM applications WHERE gateway_id = NEW.gateway_id;
        IF FOUND AND app.deleted_at IS NULL THEN
            PERFORM sg_move_livy_principals(app.owner, app.proxy_user, NEW.batch_id, 1);
        END IF;
    ELSE
        SELECT owner, proxy_user INTO app FROM applications WHERE gateway_id = OLD.gateway_id;
        IF FOUND THEN
            PERFORM sg_move_livy_principals(app.owner, app.proxy_user, OLD.batch_id, -1);
        END IF;
    END IF;
    RETURN NULL;
END
$$""",
    pg_row_trigger("sg_livy_principals_app", "UPDATE OF owner, proxy_user, deleted_at", "applications"),
    pg_row_trigger("sg_livy_principals_batch", "INSERT OR DELETE", "livy_batches"),
]

FILL = """
INSERT INTO livy_batch_principals (principal, batch_id)
SELECT a.owner, b.batch_id FROM applications a JOIN livy_batches b ON b.gateway_id = a.gateway_id
    WHERE a.deleted_at IS NULL AND a.owner IS NOT NULL
UNION
SELECT a.proxy_user, b.batch_id FROM applications a JOIN livy_batches b ON b.gateway_id = a.gateway_id
    WHERE a.deleted_at IS NULL AND a.proxy_user IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "livy_batch_principals",
        sa.Column("principal", sa.String(253), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("principal", "batch_id", name="pk_livy_batch_principals"),
    )
    op.execute(FILL)
    execute_per_dialect(SQLITE_TRIGGERS, PG_STATEMENTS)
    for name, columns in INDEXES.items():
        op.create_index(
            name,
            "applications",
            columns,
            sqlite_where=sa.text(LIVE),
            postgresql_where=sa.text(LIVE),
        )


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="applications")
    execute_per_dialect(
        [f"DROP TRIGGER sg_livy_principals_{name}" for name in ("insert", "delete", "update")],
        [
            "DROP TRIGGER sg_livy_principals_app ON applications",
            "DROP TRIGGER sg_livy_principals_batch ON livy_batches",
            "DROP FUNCTION sg_livy_principals_app()",
            "DROP FUNCTION sg_livy_principals_batch()",
            "DROP FUNCTION sg_move_livy_principals(TEXT, TEXT, INTEGER, BIGINT)",
        ],
    )
    op.drop_table("livy_batch_principals")
