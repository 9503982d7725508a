"""Retention deletes what ended long ago (applications, their logs, batch rows, webhook rows) and keeps
everything else, at 100k applications, without reusing a batch id afterwards."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, insert, select, text

from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.db.models import ApplicationRow, LivyBatchRow, LogLineRow, WebhookEventRow
from spark_gateway.services.retention import purge_once
from tests.db.test_repository import make_row

ROWS = 100_000
CHUNK = 5_000


def kind(i: int) -> tuple[str, int]:
    """(state, age in days) of application i: 60% ended long ago, the rest recent or still running."""
    if i % 10 < 6:
        return "COMPLETED" if i % 2 else "FAILED", 40
    if i % 10 < 8:
        return "COMPLETED", 1
    return "RUNNING", 40


async def fill(database: Database) -> None:
    template = make_row("x")
    columns = {
        c.name: getattr(template, c.name)
        for c in ApplicationRow.__table__.columns
        if c.name in vars(template)
    }
    now = repo.utcnow()
    for start in range(0, ROWS, CHUNK):
        rows = []
        for i in range(start, start + CHUNK):
            state, age = kind(i)
            moment = now - timedelta(days=age)
            rows.append(
                columns
                | {
                    "gateway_id": f"local-dflt-{i:08d}",
                    "state": state,
                    "created_at": moment,
                    "updated_at": moment,
                }
            )
        async with database.transaction() as session:
            await session.execute(insert(ApplicationRow), rows)
    async with database.transaction() as session:
        for i in range(0, 200):  # a few with logs, batch ids and a webhook event
            gid = f"local-dflt-{i:08d}"
            await repo.append_log_lines(session, gid, ["a", "b"], keep=100)
            await repo.allocate_batch_id(session, gid)
            await session.execute(
                insert(WebhookEventRow).values(
                    gateway_id=gid, state="COMPLETED", created_at=now - timedelta(days=40)
                )
            )


async def count(database: Database, column) -> int:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        return int((await session.execute(select(func.count(column)))).scalar_one())


async def test_retention_at_100k_rows_deletes_only_what_ended_long_ago(database: Database) -> None:
    await fill(database)
    started = time.monotonic()
    purged = await purge_once(database, finished_days=30, batch_size=1000)
    took = time.monotonic() - started
    assert purged == ROWS * 6 // 10
    assert await count(database, ApplicationRow.gateway_id) == ROWS - purged
    async with database.transaction() as session:
        states = dict(
            (
                await session.execute(
                    select(ApplicationRow.state, func.count()).group_by(ApplicationRow.state)
                )
            ).all()
        )
        assert states == {"COMPLETED": ROWS // 5, "RUNNING": ROWS // 5}  # recent ends and running jobs stay
        kept_logs = (await session.execute(select(LogLineRow.gateway_id).distinct())).scalars().all()
    assert sorted(kept_logs) == [
        f"local-dflt-{i:08d}" for i in range(200) if kind(i)[1] == 1 or kind(i)[0] == "RUNNING"
    ]
    assert await count(database, WebhookEventRow.id) == len(kept_logs)
    assert await count(database, LivyBatchRow.batch_id) == len(kept_logs)
    assert took < 120, f"purging {purged} applications took {took:.0f}s"
    async with database.transaction() as session:  # the maintained counts (triggers) follow the deletes
        counted = (await session.execute(text("SELECT sum(live) FROM application_counts"))).scalar_one()
        batches = (
            await session.execute(text("SELECT live FROM livy_batch_counts WHERE principal = ''"))
        ).scalar()
    assert counted == ROWS - purged
    assert batches == len(kept_logs)

    assert await purge_once(database, finished_days=30, batch_size=1000) == 0
    async with database.transaction() as session:  # batch ids of deleted rows are never handed out again
        await repo.insert_application(session, make_row("local-dflt-fresh"))
        assert await repo.allocate_batch_id(session, "local-dflt-fresh") == 200


async def test_retention_runs_in_one_replica_only_when_configured(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from spark_gateway.services.gateway import build_runtime
    from spark_gateway.services.supervision.background import BackgroundWork
    from spark_gateway.settings import Settings

    url = database.url.render_as_string(hide_password=False)
    for conf, expected in (({}, False), ({"finishedDays": 30}, True)):
        settings = Settings.load(None, dataDir=str(tmp_path), database={"url": url}, retention=conf)
        work = BackgroundWork(build_runtime(settings, db=database), holder="h")
        assert ("retention" in [guard.name for guard in work.guards]) is expected
