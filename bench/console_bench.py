"""How fast the console's applications table is over a large table (default: 1,000,000 applications).

Fills a fresh PostgreSQL database with N applications spread over 30 days, 3 clusters, 4 namespaces,
50 owners and a mix of states (one INSERT ... SELECT generate_series), then times the service the
console calls, `browse_applications`, for: the first page, a page a third of the way down (keyset
cursor), the first page filtered by state, by owner, by name and id searches (rare, common, none),
and as a non-admin user. Every tenth application is a Livy session's driver (the table joins them).
The searches run twice: without migration 0007's trigram indexes, then with them (built after the fill).
Prints the median of 5 runs of each (a page of 50 rows plus its count, capped at 10000).

Usage: python bench/console_bench.py [--rows 1000000] [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))
from tests.conftest import PG_URL, create_pg_database, drop_pg_database  # noqa: E402

from spark_gateway.db import migrate  # noqa: E402
from spark_gateway.domain.states import AppState  # noqa: E402
from spark_gateway.services.applications import Caller  # noqa: E402
from spark_gateway.services.browsing import BrowseQuery, browse_applications, encode_cursor  # noqa: E402
from spark_gateway.services.gateway import GatewayRuntime, build_runtime  # noqa: E402
from spark_gateway.settings import Settings  # noqa: E402

CLUSTERS = [
    {"name": f"c{i}", "id": f"c{i}", "namespaces": [{"name": f"ns{j}", "id": f"ns{j}"} for j in range(4)]}
    for i in range(3)
]
FILL = """
INSERT INTO applications (gateway_id, cluster_id, cluster_name, namespace, owner, proxy_user, name, source,
  spec, status, state, backend_ref, created_at, updated_at)
SELECT 'c' || (g % 3) || '-ns' || (g % 4) || '-' || lpad(to_hex(g), 8, '0') || '-0000-7000-8000-000000000000',
  'c' || (g % 3), 'c' || (g % 3), 'ns' || (g % 4), 'user' || (g % 50), NULL, 'job-' || g,
  CASE WHEN g % 10 = 5 THEN 'livy-session' WHEN g % 2 = 0 THEN 'livy' ELSE 'v1' END, '{}'::jsonb, '{}'::jsonb,
  (ARRAY['COMPLETED','COMPLETED','COMPLETED','FAILED','RUNNING','',  'COMPLETED','SUBMITTED'])[1 + g % 8],
  '{}'::jsonb, now() - make_interval(secs => (:rows - g) * 2592000.0 / :rows), now()
FROM generate_series(1, :rows) AS g
"""
# Every tenth application is a Livy session's driver, with its livy_sessions row.
FILL_SESSIONS = """
INSERT INTO livy_sessions (gateway_id, kind, request, state, heartbeat_timeout_s, next_statement_id,
  created_at, last_activity_at, last_access_at)
SELECT gateway_id, 'pyspark', '{}'::jsonb, 'idle', 0, 0, created_at, created_at, created_at
FROM applications WHERE source = 'livy-session' ORDER BY created_at
"""
SEARCHES = (
    ("name search 'job-4242' (rare)", "job-4242"),
    ("name search 'JOB-99' (any case)", "JOB-99"),
    ("name search 'job-' (every row)", "job-"),
    ("id search '-0001e240-' (one)", "-0001e240-"),
    ("search with no match", "no-such-job"),
)
INDEXES = {  # as migrations 0007_console_search and 0010_search_lower_gateway_id create them
    "ix_applications_name_trgm": "lower(name) gin_trgm_ops",
    "ix_applications_gateway_id_lower_trgm": "lower(gateway_id) gin_trgm_ops",
}
TRIGRAM_INDEXES = tuple(INDEXES)


async def timed(label: str, run: object, repeat: int = 5) -> None:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        page = await run()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    total = "10000+" if page.total_is_capped else str(page.total)
    print(f"{label:<34} {statistics.median(times):8.1f} ms   rows={len(page.records):<3} total={total}")


async def searches(rt: GatewayRuntime, heading: str) -> None:
    print(heading)
    admin = Caller(None)
    for label, needle in SEARCHES:
        await timed(label, lambda n=needle: browse_applications(rt, admin, BrowseQuery(search=n)))  # type: ignore[misc]
    await timed(
        "owner user7, search 'job-42'",
        lambda: browse_applications(rt, admin, BrowseQuery(owner="user7", search="job-42")),
    )


async def pages(rt: GatewayRuntime, rows: int) -> None:
    admin = Caller(None)
    first = await browse_applications(rt, admin, BrowseQuery())
    async with rt.db.transaction() as session:
        created, gid = (
            await session.execute(
                text(
                    "SELECT created_at, gateway_id FROM applications"
                    " ORDER BY created_at DESC, gateway_id DESC OFFSET :n LIMIT 1"
                ),
                {"n": rows // 3},
            )
        ).one()
    deep = encode_cursor(created, gid)
    await timed("first page", lambda: browse_applications(rt, admin, BrowseQuery()))
    await timed(
        "page a third of the way down", lambda: browse_applications(rt, admin, BrowseQuery(before=deep))
    )
    await timed(
        "next page (cursor of page 1)",
        lambda: browse_applications(rt, admin, BrowseQuery(before=first.next_cursor)),
    )
    await timed(
        "state RUNNING", lambda: browse_applications(rt, admin, BrowseQuery(states=(AppState.RUNNING,)))
    )
    await timed("owner user7", lambda: browse_applications(rt, admin, BrowseQuery(owner="user7")))
    await timed(
        "state FAILED, owner user7",
        lambda: browse_applications(rt, admin, BrowseQuery(states=(AppState.FAILED,), owner="user7")),
    )
    await timed(
        "cluster c1, namespace ns2",
        lambda: browse_applications(rt, admin, BrowseQuery(cluster="c1", namespace="ns2")),
    )


async def main(rows: int, pg_url: str) -> None:
    url = await create_pg_database(pg_url)
    try:
        settings = Settings.load(
            None,
            clusters=CLUSTERS,
            database={"url": url, "statementTimeoutSeconds": 3600},
            livy={"defaultNamespace": "ns0"},
        )
        rt = build_runtime(settings)
        await migrate.upgrade(rt.db)
        start = time.perf_counter()
        async with rt.db.transaction() as session:
            # Built after the fill (as CREATE INDEX on an existing table does), and timed both ways.
            for index in TRIGRAM_INDEXES:
                await session.execute(text(f"DROP INDEX {index}"))
            # The maintained counts' triggers (0005, 0006) are not what is measured here, and would
            # make the fill per-row slow: the console's table counts on its own.
            await session.execute(text("SET LOCAL session_replication_role = replica"))
            await session.execute(text(FILL), {"rows": rows})
            await session.execute(text(FILL_SESSIONS))
        async with rt.db.transaction() as session:
            await session.execute(text("ANALYZE applications"))
            await session.execute(text("ANALYZE livy_sessions"))
        print(f"filled {rows} applications in {time.perf_counter() - start:.1f} s")
        await pages(rt, rows)
        await searches(rt, "without migration 0007's trigram indexes:")
        start = time.perf_counter()
        async with rt.db.transaction() as session:
            for index, expression in INDEXES.items():
                await session.execute(text(f"CREATE INDEX {index} ON applications USING gin ({expression})"))
        async with rt.db.transaction() as session:
            await session.execute(text("ANALYZE applications"))
        await searches(rt, f"with them (built in {time.perf_counter() - start:.1f} s):")
        await rt.close()
    finally:
        await drop_pg_database(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.pg_url))
