"""Retention at 20k applications (100k in the long form, `make test-long`), as a user of the API sees
it: what ended long ago is gone (its batch, its log, an ended Livy session), running and recent
applications stay, stored logs are trimmed to their last `retention.logLines` lines, totals stay right,
and no batch id is reused afterwards.

The rows are written straight into the schema with one INSERT … SELECT per table (as bench/dataset.py
does) at the revision before the maintained counts; the migrations then count them once, and every
delete after that goes through the count triggers, as in a real database.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, DateTime, bindparam, func, select, text

from spark_gateway.db import migrate
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.db.models import ApplicationRow, LivySessionRow, LivyStatementRow, LogLineRow
from spark_gateway.services.retention import run_pass
from spark_gateway.settings import RetentionConfig
from tests.api.conftest import Gateway, GatewayFactory
from tests.api.refusals import LIVY, PI
from tests.conftest import quick_or_long
from tests.db.test_repository import make_row

ROWS = quick_or_long(20_000, 100_000)  # stored batches; the 100k in the long form
LOG_LINES = 40  # stored for applications g % 100 in LOGGED
LOGGED = (0, 6, 8)  # one that ended long ago, one that ended recently, one still running
KEEP = 10
OLD, RECENT = 40, 1  # days

GID = {
    "sqlite": "'local-dflt-' || printf('%08x', g) || '-0000-7000-8000-' || printf('%012x', g)",
    "postgresql": "'local-dflt-' || lpad(to_hex(g), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0')",
}
SERIES = {  # (prefix, source) of the series 0..ROWS-1 named g
    "sqlite": (f"WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g + 1 < {ROWS}) ", "s"),
    "postgresql": ("", f"generate_series(0, {ROWS} - 1) AS g"),
}
# Application g: one in 10 ended (FAILED or COMPLETED) OLD days ago, 7 in 10 ended RECENT days ago,
# 2 in 10 have been RUNNING for OLD days.
STATE = "CASE WHEN g % 10 = 0 THEN (CASE WHEN g % 20 = 0 THEN 'FAILED' ELSE 'COMPLETED' END) "
STATE += "WHEN g % 10 < 8 THEN 'COMPLETED' ELSE 'RUNNING' END"
APPLICATIONS = """{prefix}
INSERT INTO applications (gateway_id, cluster_id, cluster_name, namespace, owner, proxy_user, name,
    source, spec, status, state, error_message, spark_app_id, backend_ref, created_at, updated_at,
    submitted_at, terminated_at, deleted_at, idempotency_key, callback_url)
SELECT {gid}, 'local', 'local', 'default', 'user' || (g % 7), NULL, 'r-' || g, 'livy', '{{"spec": {{}}}}', '{{}}',
    {state}, NULL, NULL, '{{}}', w, w, w, NULL, NULL, 'key-' || g, NULL
FROM (SELECT g, CASE WHEN g % 10 BETWEEN 1 AND 7 THEN :recent ELSE :old END AS w FROM {source}) AS t
"""
BATCHES = {
    "sqlite": "{prefix} INSERT INTO livy_batches (batch_id, gateway_id) SELECT g, {gid} FROM {source}",
    "postgresql": "INSERT INTO livy_batches (batch_id, gateway_id) OVERRIDING SYSTEM VALUE "
    "SELECT g, {gid} FROM {source}",
}
NEXT_BATCH = {
    "sqlite": f"UPDATE sqlite_sequence SET seq = {ROWS} - 1 WHERE name = 'livy_batches'",
    "postgresql": f"SELECT setval(pg_get_serial_sequence('livy_batches', 'batch_id'), {ROWS} - 1)",
}
LOGS = """{prefix}
INSERT INTO application_logs (gateway_id, seq, line)
SELECT {gid}, k, 'line ' || k FROM (SELECT g, k FROM {source}, {lines}
    WHERE g % 100 IN {logged}) AS t
"""
LINES = {
    "sqlite": f"(WITH RECURSIVE l(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM l WHERE k + 1 < {LOG_LINES}) "
    "SELECT k FROM l) AS l",
    "postgresql": f"generate_series(0, {LOG_LINES} - 1) AS k",
}
BEFORE_COUNTS = "0004_sessions"  # the revision before the maintained counts


def gid(g: int) -> str:
    return f"local-dflt-{g:08x}-0000-7000-8000-{g:012x}"


def sql(template: str, dialect: str, **extra: Any) -> str:
    prefix, source = SERIES[dialect]
    fields = {"prefix": prefix, "source": source, "gid": GID[dialect], "state": STATE} | extra
    return template.format(**fields)


def _upgrade_to(connection: Connection, revision: str) -> None:
    config = migrate.alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def fill(url: str) -> None:
    """The rows go in before the maintained counts exist; migrations 0005 and 0006 then count them once
    (as on a real upgrade), instead of one trigger call per row, and every later change goes through the
    triggers."""
    database = Database(url, statement_timeout_s=600)
    async with database.engine.begin() as conn:
        await conn.run_sync(_upgrade_to, BEFORE_COUNTS)
    dialect = database.engine.dialect.name
    now = repo.utcnow()
    stamps = {"old": now - timedelta(days=OLD), "recent": now - timedelta(days=RECENT)}
    stamped = [bindparam(name, value, type_=DateTime(timezone=True)) for name, value in stamps.items()]
    async with database.transaction() as session:
        await session.execute(text(sql(APPLICATIONS, dialect)).bindparams(*stamped))
        await session.execute(text(sql(BATCHES[dialect], dialect)))
        await session.execute(text(NEXT_BATCH[dialect]))
        await session.execute(text(sql(LOGS, dialect, lines=LINES[dialect], logged=str(LOGGED))))
    await migrate.upgrade(database)
    async with database.transaction() as session:  # Livy sessions: one ended long ago, one still open
        for name, state, app_state in (("ended", "dead", "FAILED"), ("open", "idle", "RUNNING")):
            row = make_row(f"local-dflt-00000000-0000-7000-8000-{name.encode().hex():0>12}", state=app_state)
            row.created_at = row.updated_at = stamps["old"]
            await repo.insert_application(session, row)
            srow = LivySessionRow(
                gateway_id=row.gateway_id,
                kind="pyspark",
                request={},
                state=state,
                created_at=row.created_at,
                last_activity_at=row.created_at,
                last_access_at=row.created_at,
            )
            session.add(srow)
            await session.flush()
            statement = {"statement_id": 0, "code": "1", "kind": "pyspark", "state": "available"}
            session.add(LivyStatementRow(session_id=srow.session_id, **statement))
    await database.dispose()


async def scalar(database: Database, query: Any) -> Any:
    async with database.transaction() as session:
        return (await session.execute(query)).scalar()


async def test_retention_over_many_rows_as_the_api_shows_it(
    db_url: str, make_gateway: GatewayFactory
) -> None:
    await fill(db_url)
    gw: Gateway = await make_gateway()
    db = gw.runtime.db
    ended = [g for g in range(ROWS) if g % 10 == 0]
    before = (await gw.client.get(LIVY, params={"size": 1})).json()
    assert before["total"] == ROWS

    done = await run_pass(db, RetentionConfig(finishedDays=30, logLines=KEEP, batchSize=1000))
    assert done.applications == len(ended) + 1  # and the ended session's application
    assert done.log_lines == len(LOGGED[1:]) * (ROWS // 100) * (LOG_LINES - KEEP)

    for g, kept in ((0, False), (10, False), (1, True), (8, True), (ROWS - 1, True)):
        got = await gw.client.get(f"/api/v1/applications/{gid(g)}")
        assert got.status_code == (200 if kept else 404), (g, got.text)
        batch = await gw.client.get(f"{LIVY}/{g}")
        assert batch.status_code == (200 if kept else 404), (g, batch.text)
    listing = (await gw.client.get(LIVY, params={"size": 5})).json()
    assert listing["total"] == ROWS - len(ended)
    assert [b["id"] for b in listing["sessions"]] == [1, 2, 3, 4, 5]
    for g in (6, 8, 106, ROWS - 92):  # logged, kept: the last KEEP lines, numbered from 0 again
        log = (await gw.client.get(f"{LIVY}/{g}/log", params={"size": 100})).json()
        assert (log["total"], log["log"]) == (KEEP, [f"line {k}" for k in range(LOG_LINES - KEEP, LOG_LINES)])
    sessions = (await gw.client.get("/api/livy/sessions")).json()
    assert [s["state"] for s in sessions["sessions"]] == ["idle"]
    assert (await gw.client.get(f"/api/livy/sessions/{sessions['sessions'][0]['id'] - 1}")).status_code == 404

    # The maintained counts (triggers) followed the deletes.
    assert await scalar(db, text("SELECT sum(live) FROM application_counts")) == ROWS - len(ended) + 1
    assert await scalar(db, select(func.count()).select_from(ApplicationRow)) == ROWS - len(ended) + 1
    assert await scalar(db, select(func.count()).select_from(LivyStatementRow)) == 1  # the open one's
    assert await scalar(db, select(func.count()).select_from(LogLineRow)) == 2 * (ROWS // 100) * KEEP

    again = await run_pass(db, RetentionConfig(finishedDays=30, logLines=KEEP, batchSize=1000))
    assert (again.applications, again.log_lines) == (0, 0)
    created = await gw.client.post(LIVY, json={"file": PI})
    assert created.status_code == 201, created.text
    assert created.json()["id"] == ROWS  # the ids of deleted batches are never handed out again


async def test_retention_runs_in_one_replica_only_when_configured(database: Database, tmp_path: Path) -> None:
    from spark_gateway.services.gateway import build_runtime
    from spark_gateway.services.supervision.background import BackgroundWork
    from spark_gateway.settings import Settings

    url = database.url.render_as_string(hide_password=False)
    for conf, expected in (({}, False), ({"finishedDays": 30}, True), ({"logLines": 500}, True)):
        settings = Settings.load(None, dataDir=str(tmp_path), database={"url": url}, retention=conf)
        work = BackgroundWork(build_runtime(settings, db=database), holder="h")
        assert ("retention" in [guard.name for guard in work.guards]) is expected
