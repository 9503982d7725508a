"""Live Livy batches per principal and block of 256 batch ids, so any `from` costs about the same.

A Livy page is "skip `from` visible batches in id order". Databases skip by walking rows, so a page
in the middle of a million batches walked half a million. With these counts a page first finds its
block (a running sum over at most total/256 small rows, one index range) and then skips at most 255
rows inside it. Principals as in `livy_batch_counts` ('' = every batch; a user = owner or proxy user).
Kept exact by triggers in the writer's transaction, like the counts of migration 0004.

Revision ID: 0006_livy_batch_blocks
Revises: 0005_maintained_counts
"""

import sqlalchemy as sa
from alembic import op

from spark_gateway.db.migrations.ddl import (
    execute_per_dialect,
    pg_livy_visibility_function,
    pg_row_trigger,
    sqlite_on_livy_visibility,
)

revision = "0006_livy_batch_blocks"
down_revision = "0005_maintained_counts"
branch_labels = None
depends_on = None

BLOCK = 256  # also in db/repository.py (LIVY_BLOCK)


def bump_visible_block(row: str, sign: str) -> str:
    """SQLite, the end of a trigger on livy_batches: count `row` in (+) or out (-) of its block's
    counters, for every principal who may see it, if its application is live."""
    return f"""\
    UPDATE livy_batch_blocks SET live = live {sign} 1
    WHERE block = {row}.batch_id / {BLOCK}
        AND EXISTS (SELECT 1 FROM applications WHERE gateway_id = {row}.gateway_id AND deleted_at IS NULL)
        AND principal IN (SELECT '' UNION SELECT owner FROM applications WHERE gateway_id = {row}.gateway_id
            UNION SELECT proxy_user FROM applications WHERE gateway_id = {row}.gateway_id);
END"""


SQLITE_TRIGGERS = [
    f"""
CREATE TRIGGER sg_livy_blocks_insert AFTER INSERT ON livy_batches
BEGIN
    INSERT OR IGNORE INTO livy_batch_blocks (principal, block, live)
    SELECT '', NEW.batch_id / {BLOCK}, 0 WHERE EXISTS (SELECT 1 FROM applications
        WHERE gateway_id = NEW.gateway_id AND deleted_at IS NULL)
    UNION SELECT owner, NEW.batch_id / {BLOCK}, 0 FROM applications
        WHERE gateway_id = NEW.gateway_id AND deleted_at IS NULL AND owner IS NOT NULL
    UNION SELECT proxy_user, NEW.batch_id / {BLOCK}, 0 FROM applications
        WHERE gateway_id = NEW.gateway_id AND deleted_at IS NULL AND proxy_user IS NOT NULL;
{bump_visible_block("NEW", "+")}""",
    f"""
CREATE TRIGGER sg_livy_blocks_delete AFTER DELETE ON livy_batches
BEGIN
{bump_visible_block("OLD", "-")}""",
    f"""
{sqlite_on_livy_visibility("sg_livy_blocks_update")}
    UPDATE livy_batch_blocks SET live = live - 1
    WHERE OLD.deleted_at IS NULL
        AND block = (SELECT batch_id FROM livy_batches WHERE gateway_id = OLD.gateway_id) / {BLOCK}
        AND principal IN (SELECT '' UNION SELECT OLD.owner UNION SELECT OLD.proxy_user);
    INSERT OR IGNORE INTO livy_batch_blocks (principal, block, live)
    SELECT p, (SELECT batch_id FROM livy_batches WHERE gateway_id = NEW.gateway_id) / {BLOCK}, 0
    FROM (SELECT '' AS p UNION SELECT NEW.owner UNION SELECT NEW.proxy_user)
    WHERE p IS NOT NULL AND NEW.deleted_at IS NULL;
    UPDATE livy_batch_blocks SET live = live + 1
    WHERE NEW.deleted_at IS NULL
        AND block = (SELECT batch_id FROM livy_batches WHERE gateway_id = NEW.gateway_id) / {BLOCK}
        AND principal IN (SELECT '' UNION SELECT NEW.owner UNION SELECT NEW.proxy_user);
END""",
]

PG_STATEMENTS = [
    f"""
CREATE FUNCTION sg_bump_livy_block(owner TEXT, proxy_user TEXT, batch_id INTEGER, d BIGINT)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO livy_batch_blocks AS t (principal, block, live)
    SELECT DISTINCT p, batch_id / {BLOCK}, d FROM unnest(ARRAY['', owner, proxy_user]) AS p
    WHERE p IS NOT NULL ORDER BY p
    ON CONFLICT (principal, block) DO UPDATE SET live = t.live + EXCLUDED.live
$$""",
    pg_livy_visibility_function("sg_livy_blocks_app", "sg_bump_livy_block"),
    """
CREATE FUNCTION sg_livy_blocks_batch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    app RECORD;
    gid TEXT;
    id INTEGER;
    d BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        gid := NEW.gateway_id; id := NEW.batch_id; d := 1;
    ELSE
        gid := OLD.gateway_id; id := OLD.batch_id; d := -1;
    END IF;
    SELECT owner, proxy_user, deleted_at INTO app FROM applications WHERE gateway_id = gid;
    IF FOUND AND app.deleted_at IS NULL THEN
        PERFORM sg_bump_livy_block(app.owner, app.proxy_user, id, d);
    END IF;
    RETURN NULL;
END
$$""",
    pg_row_trigger("sg_livy_blocks_app", "UPDATE OF owner, proxy_user, deleted_at", "applications"),
    pg_row_trigger("sg_livy_blocks_batch", "INSERT OR DELETE", "livy_batches"),
]

FILL = f"""
INSERT INTO livy_batch_blocks (principal, block, live)
SELECT principal, block, count(*) FROM (
    SELECT '' AS principal, b.batch_id / {BLOCK} AS block, a.gateway_id FROM applications a
        JOIN livy_batches b ON b.gateway_id = a.gateway_id WHERE a.deleted_at IS NULL
    UNION
    SELECT a.owner, b.batch_id / {BLOCK}, a.gateway_id FROM applications a
        JOIN livy_batches b ON b.gateway_id = a.gateway_id WHERE a.deleted_at IS NULL AND a.owner IS NOT NULL
    UNION
    SELECT a.proxy_user, b.batch_id / {BLOCK}, a.gateway_id FROM applications a
        JOIN livy_batches b ON b.gateway_id = a.gateway_id
        WHERE a.deleted_at IS NULL AND a.proxy_user IS NOT NULL
) AS visible GROUP BY principal, block
"""


def upgrade() -> None:
    op.create_table(
        "livy_batch_blocks",
        sa.Column("principal", sa.String(253), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("live", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("principal", "block", name="pk_livy_batch_blocks"),
    )
    op.execute(FILL)
    execute_per_dialect(SQLITE_TRIGGERS, PG_STATEMENTS)


def downgrade() -> None:
    execute_per_dialect(
        [f"DROP TRIGGER sg_livy_blocks_{name}" for name in ("insert", "delete", "update")],
        [
            "DROP TRIGGER sg_livy_blocks_app ON applications",
            "DROP TRIGGER sg_livy_blocks_batch ON livy_batches",
            "DROP FUNCTION sg_livy_blocks_app()",
            "DROP FUNCTION sg_livy_blocks_batch()",
            "DROP FUNCTION sg_bump_livy_block(TEXT, TEXT, INTEGER, BIGINT)",
        ],
    )
    op.drop_table("livy_batch_blocks")
