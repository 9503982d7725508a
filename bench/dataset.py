"""Stored histories of N Livy batches for the scale bench, written straight into the schema.

One INSERT … SELECT per table (`generate_series` on PostgreSQL, a recursive CTE on SQLite), so a
million batches take seconds to a few minutes rather than hours of API calls. Rows look like what the
gateway stores for a finished Livy batch on the default local cluster: terminal states only (nothing
for the supervisor to pick up), owners spread over `USERS` users, and a driver log of `LOG_LINES`
lines on one batch in `LOG_EVERY`.

A data set is reused when its database already holds exactly N batches at the current schema revision
(`ensure`), so the 1M sets are built once per machine and schema.
Usage: python bench/dataset.py --db sqlite|postgresql --batches 1000000
(PostgreSQL: database bench_<N>, or <$BENCH_PG_PREFIX>_<N>.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from spark_gateway.db import migrate  # noqa: E402
from spark_gateway.db.engine import Database  # noqa: E402

DATA_DIR = REPO / "bench" / ".data"
PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
USERS = 100
LOG_EVERY = 20  # one batch in 20 has a stored driver log
LOG_LINES = 50
# Batch g: gateway id local-dflt-<uuid from g>, owner user<g % USERS>, created g seconds after EPOCH.
EPOCH = "2026-01-01 00:00:00"
FIRST_REVISION = "0001"
# PostgreSQL data sets are databases <prefix>_<N> on the shared server: a run on another schema (a
# branch with a new migration) names its own prefix rather than rebuilding everyone's.
PG_PREFIX = os.environ.get("BENCH_PG_PREFIX", "bench")


@dataclass(frozen=True)
class Target:
    db: str  # "sqlite" or "postgresql"
    batches: int

    @property
    def label(self) -> str:
        return f"{self.db}-{self.batches}"

    @property
    def url(self) -> str:
        if self.db == "sqlite":
            return f"sqlite+aiosqlite:///{DATA_DIR / (self.label + '.db')}"
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_database}"

    @property
    def pg_database(self) -> str:
        return f"{PG_PREFIX}_{self.batches}"


PG_ROWS = """
INSERT INTO applications (gateway_id, cluster_id, cluster_name, namespace, owner, proxy_user, name,
    source, spec, status, state, error_message, spark_app_id, backend_ref, created_at, updated_at,
    submitted_at, terminated_at, deleted_at, idempotency_key)
SELECT gid, 'local', 'local', 'default', 'user' || (g % {users}), NULL, 'bench-' || g, 'livy',
    jsonb_build_object('apiVersion', 'sparkoperator.k8s.io/v1beta2', 'kind', 'SparkApplication',
        'metadata', jsonb_build_object('name', 'bench-' || g, 'namespace', 'default',
            'labels', jsonb_build_object('spark-gateway/cluster', 'local',
                'spark-gateway/user', 'user' || (g % {users}), 'spark-gateway/livy-batch-id', g::text),
            'annotations', '{{}}'::jsonb),
        'spec', jsonb_build_object('type', 'Python', 'mode', 'cluster', 'sparkVersion', '3.5.3',
            'mainApplicationFile', 'local:///opt/app/pi.py', 'arguments', jsonb_build_array('10'),
            'driver', '{{}}'::jsonb, 'executor', '{{}}'::jsonb, 'pythonVersion', '3')),
    jsonb_build_object('applicationState', jsonb_build_object('state', st), 'driverInfo', '{{}}'::jsonb,
        'sparkApplicationId', 'local-' || g, 'terminationTime', to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
    st, NULL, 'local-' || g, '{{}}'::jsonb, ts, ts, ts, ts, NULL, NULL
FROM (SELECT g, 'local-dflt-' || lpad(to_hex(g), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0')
        AS gid, CASE WHEN g % 10 = 9 THEN 'FAILED' ELSE 'COMPLETED' END AS st,
        TIMESTAMPTZ '{epoch}+00' + g * INTERVAL '1 second' AS ts
      FROM generate_series(0, {n} - 1) AS g) AS s
"""
PG_BATCHES = """
INSERT INTO livy_batches (batch_id, gateway_id) OVERRIDING SYSTEM VALUE
SELECT g, 'local-dflt-' || lpad(to_hex(g), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0')
FROM generate_series(0, {n} - 1) AS g
"""
PG_LOGS = """
INSERT INTO application_logs (gateway_id, seq, line)
SELECT 'local-dflt-' || lpad(to_hex(g), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0'), l,
    '26/01/01 00:00:00 INFO SparkContext: bench line ' || l || ' of batch ' || g
FROM generate_series(0, {n} - 1, {every}) AS g, generate_series(0, {lines} - 1) AS l
"""
PG_SEQUENCE = "SELECT setval(pg_get_serial_sequence('livy_batches', 'batch_id'), {n} - 1)"

SQLITE_GID = "'local-dflt-' || printf('%08x', g) || '-0000-7000-8000-' || printf('%012x', g)"
SQLITE_SERIES = "WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g + 1 < {n}) "
SQLITE_ROWS = (
    SQLITE_SERIES
    + """
INSERT INTO applications (gateway_id, cluster_id, cluster_name, namespace, owner, proxy_user, name,
    source, spec, status, state, error_message, spark_app_id, backend_ref, created_at, updated_at,
    submitted_at, terminated_at, deleted_at, idempotency_key)
SELECT gid, 'local', 'local', 'default', 'user' || (g % {users}), NULL, 'bench-' || g, 'livy',
    json_object('apiVersion', 'sparkoperator.k8s.io/v1beta2', 'kind', 'SparkApplication',
        'metadata', json_object('name', 'bench-' || g, 'namespace', 'default',
            'labels', json_object('spark-gateway/cluster', 'local',
                'spark-gateway/user', 'user' || (g % {users}), 'spark-gateway/livy-batch-id', g || ''),
            'annotations', json('{{}}')),
        'spec', json_object('type', 'Python', 'mode', 'cluster', 'sparkVersion', '3.5.3',
            'mainApplicationFile', 'local:///opt/app/pi.py', 'arguments', json_array('10'),
            'driver', json('{{}}'), 'executor', json('{{}}'), 'pythonVersion', '3')),
    json_object('applicationState', json_object('state', st), 'driverInfo', json('{{}}'),
        'sparkApplicationId', 'local-' || g, 'terminationTime', strftime('%Y-%m-%dT%H:%M:%SZ', ts)),
    st, NULL, 'local-' || g, '{{}}', ts || '.000000', ts || '.000000', ts || '.000000', ts || '.000000',
    NULL, NULL
FROM (SELECT g, {gid} AS gid, CASE WHEN g % 10 = 9 THEN 'FAILED' ELSE 'COMPLETED' END AS st,
        datetime('{epoch}', '+' || g || ' seconds') AS ts FROM s)
"""
)
SQLITE_BATCHES = SQLITE_SERIES + "INSERT INTO livy_batches (batch_id, gateway_id) SELECT g, {gid} FROM s"
SQLITE_LOGS = (
    "WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + {every} FROM s WHERE g + {every} < {n}), "
    "l(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM l WHERE k + 1 < {lines}) "
    "INSERT INTO application_logs (gateway_id, seq, line) "
    "SELECT {gid}, k, '26/01/01 00:00:00 INFO SparkContext: bench line ' || k || ' of batch ' || g "
    "FROM s, l"
)
SQLITE_SEQUENCE = "UPDATE sqlite_sequence SET seq = {n} - 1 WHERE name = 'livy_batches'"


async def _recreate_pg_database(name: str) -> None:
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()


async def stored_batches(target: Target) -> int | None:
    """How many batches the target's database holds (None: no usable database)."""
    if target.db == "sqlite" and not (DATA_DIR / (target.label + ".db")).exists():
        return None
    engine = create_async_engine(target.url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM livy_batches"))).scalar_one())
    except Exception as exc:  # a missing database or table means "build it"
        print(f"{target.label}: no usable data set ({type(exc).__name__})", file=sys.stderr)
        return None
    finally:
        await engine.dispose()


def _upgrade_to(connection: Connection, revision: str) -> None:
    config = migrate.alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _remove_sqlite_files(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def build(target: Target) -> float:
    """(Re)create the target's database with the schema at head and N batches; seconds taken."""
    began = time.monotonic()
    if target.db == "sqlite":
        _remove_sqlite_files(DATA_DIR / (target.label + ".db"))
    else:
        await _recreate_pg_database(target.pg_database)
    # The rows go in at the first schema revision, then the later migrations run over them as on a
    # real upgrade (building maintained counts once instead of firing triggers a million times).
    db = Database(target.url, statement_timeout_s=3600)
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade_to, FIRST_REVISION)
    pg = target.db == "postgresql"
    params = {"n": target.batches, "users": USERS, "epoch": EPOCH, "every": LOG_EVERY, "lines": LOG_LINES}
    statements = (
        [PG_ROWS, PG_BATCHES, PG_LOGS, PG_SEQUENCE]
        if pg
        else [SQLITE_ROWS, SQLITE_BATCHES, SQLITE_LOGS, SQLITE_SEQUENCE]
    )
    async with db.engine.begin() as conn:
        if not pg:
            await conn.execute(text("PRAGMA foreign_keys=OFF"))
        for statement in statements if target.batches else []:
            await conn.execute(text(statement.format(gid=SQLITE_GID, **params)))
    await migrate.upgrade(db)
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    await db.dispose()
    return time.monotonic() - began


async def at_head(target: Target) -> bool:
    """Whether the data set's schema is the code's (else it is rebuilt, not migrated)."""
    db = Database(target.url)
    try:
        return await migrate.current_revision(db) == migrate.head_revision()
    finally:
        await db.dispose()


async def ensure(target: Target, *, log: bool = True) -> None:
    if await stored_batches(target) == target.batches and await at_head(target):
        return
    if log:
        print(f"building {target.label} …", file=sys.stderr, flush=True)
    seconds = await build(target)
    if log:
        print(f"built {target.label} in {seconds:.1f}s", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    target = Target(args.db, args.batches)
    if args.rebuild:
        print(f"built {target.label} in {asyncio.run(build(target)):.1f}s")
    else:
        asyncio.run(ensure(target))


if __name__ == "__main__":
    main()
