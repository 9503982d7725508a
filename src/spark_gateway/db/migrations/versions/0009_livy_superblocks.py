"""Live Livy batches per principal and superblock of 256 blocks (65,536 batch ids): a page anywhere
locates its block in two short running sums instead of one over every block.

With blocks alone (0006), a page in the middle of a million batches summed about 2,000 block rows
(total/256/2) to find where it starts, for everyone's list and a user's alike: cheap next to walking
the rows, but still growing with the history. Now the sum runs over the superblocks (total/65,536/2
rows) and then over the blocks of one superblock (at most 256 rows), whatever the history size.

Kept exact by triggers on `livy_batch_blocks` itself (each block's change added to its superblock),
so they follow every write the block triggers of 0006 follow, in the same transaction.

Revision ID: 0009_livy_superblocks
Revises: 0008_owner_lists
"""

import sqlalchemy as sa
from alembic import op

from spark_gateway.db.migrations.ddl import execute_per_dialect, pg_row_trigger

revision = "0009_livy_superblocks"
down_revision = "0008_owner_lists"
branch_labels = None
depends_on = None

SUPER = 256  # blocks per superblock; also in db/models.py (LIVY_SUPERBLOCK, in blocks)


def sqlite_add(trigger: str, event: str, delta: str, row: str = "NEW") -> str:
    """SQLite: a trigger on livy_batch_blocks adding `delta` to the superblock of the block `row`."""
    return f"""
CREATE TRIGGER {trigger} AFTER {event} ON livy_batch_blocks
BEGIN
    INSERT OR IGNORE INTO livy_batch_superblocks (principal, superblock, live)
    VALUES ({row}.principal, {row}.block / {SUPER}, 0);
    UPDATE livy_batch_superblocks SET live = live + ({delta})
    WHERE principal = {row}.principal AND superblock = {row}.block / {SUPER};
END"""


SQLITE_TRIGGERS = [
    sqlite_add("sg_livy_superblocks_insert", "INSERT", "NEW.live"),
    sqlite_add("sg_livy_superblocks_update", "UPDATE OF live", "NEW.live - OLD.live"),
    sqlite_add("sg_livy_superblocks_delete", "DELETE", "-OLD.live", row="OLD"),
]

PG_STATEMENTS = [
    f"""
CREATE FUNCTION sg_livy_superblocks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p TEXT;
    s INTEGER;
    d BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        p := OLD.principal; s := OLD.block / {SUPER}; d := -OLD.live;
    ELSIF TG_OP = 'UPDATE' THEN
        p := NEW.principal; s := NEW.block / {SUPER}; d := NEW.live - OLD.live;
    ELSE
        p := NEW.principal; s := NEW.block / {SUPER}; d := NEW.live;
    END IF;
    IF d <> 0 THEN
        INSERT INTO livy_batch_superblocks AS t (principal, superblock, live) VALUES (p, s, d)
        ON CONFLICT (principal, superblock) DO UPDATE SET live = t.live + EXCLUDED.live;
    END IF;
    RETURN NULL;
END
$$""",
    pg_row_trigger("sg_livy_superblocks", "INSERT OR DELETE OR UPDATE OF live", "livy_batch_blocks"),
]

FILL = f"""
INSERT INTO livy_batch_superblocks (principal, superblock, live)
SELECT principal, block / {SUPER}, sum(live) FROM livy_batch_blocks GROUP BY principal, block / {SUPER}
"""


def upgrade() -> None:
    op.create_table(
        "livy_batch_superblocks",
        sa.Column("principal", sa.String(253), nullable=False),
        sa.Column("superblock", sa.Integer(), nullable=False),
        sa.Column("live", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("principal", "superblock", name="pk_livy_batch_superblocks"),
    )
    op.execute(FILL)
    execute_per_dialect(SQLITE_TRIGGERS, PG_STATEMENTS)


def downgrade() -> None:
    execute_per_dialect(
        [f"DROP TRIGGER sg_livy_superblocks_{name}" for name in ("insert", "update", "delete")],
        [
            "DROP TRIGGER sg_livy_superblocks ON livy_batch_blocks",
            "DROP FUNCTION sg_livy_superblocks()",
        ],
    )
    op.drop_table("livy_batch_superblocks")
