"""Column types and SQL fragments that several migrations use, so each rule is written once.

The fragments are part of released migrations and of the trigger and function text the databases
store: a migration must emit the same SQL forever, so never edit one; add a new name instead.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def sqlite_on_livy_visibility(name: str) -> str:
    """SQLite: the head of a trigger on `applications` that fires when the principals who may see a
    Livy batch change: its application was (un)deleted, or got another owner or proxy user."""
    return f"""\
CREATE TRIGGER {name} AFTER UPDATE OF owner, proxy_user, deleted_at ON applications
WHEN ((OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) OR OLD.owner IS NOT NEW.owner
        OR OLD.proxy_user IS NOT NEW.proxy_user)
    AND EXISTS (SELECT 1 FROM livy_batches WHERE gateway_id = NEW.gateway_id)
BEGIN"""


#: PL/pgSQL: the same test, in a trigger function on `applications` (nothing to do otherwise).
PG_UNLESS_LIVY_VISIBILITY = """\
    IF (OLD.deleted_at IS NULL) = (NEW.deleted_at IS NULL) AND OLD.owner IS NOT DISTINCT FROM NEW.owner
            AND OLD.proxy_user IS NOT DISTINCT FROM NEW.proxy_user THEN
        RETURN NULL;
    END IF;"""


def pg_move(
    bump: str, args: str, old_live: str = "OLD.deleted_at IS NULL", new_live: str = "NEW.deleted_at IS NULL"
) -> str:
    """PL/pgSQL, the end of a trigger function: count the old row out and the new row in, each if live.

    `args` are the counter's key with `{row}` for OLD or NEW, e.g. `{row}.owner, {row}.proxy_user`.
    """
    return f"""\
    IF {old_live} THEN
        PERFORM {bump}({args.format(row="OLD")}, -1);
    END IF;
    IF {new_live} THEN
        PERFORM {bump}({args.format(row="NEW")}, 1);
    END IF;
    RETURN NULL;
END
$$"""


def pg_livy_visibility_function(name: str, bump: str) -> str:
    """PL/pgSQL: the trigger function `name()` on `applications` that, when the principals who may see
    a Livy batch change, calls `bump(owner, proxy_user, batch_id, ±1)` for the old row and the new."""
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    id INTEGER;
BEGIN
{PG_UNLESS_LIVY_VISIBILITY}
    SELECT b.batch_id INTO id FROM livy_batches b WHERE b.gateway_id = NEW.gateway_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
{pg_move(bump, "{row}.owner, {row}.proxy_user, id")}"""


def pg_row_trigger(name: str, events: str, table: str) -> str:
    """PostgreSQL: run the trigger function `name()` after `events` on each row of `table`."""
    return f"CREATE TRIGGER {name} AFTER {events}\n    ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"


def execute_per_dialect(sqlite: Sequence[str], postgresql: Sequence[str]) -> None:
    """Execute the statements written for the database being migrated, in order."""
    for statement in sqlite if op.get_bind().dialect.name == "sqlite" else postgresql:
        op.execute(statement)
