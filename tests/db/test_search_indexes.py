"""PostgreSQL: the console's search is index-served, and no trigram index competes with the primary key
for plain id lookups (migration 0010; the SparkManager's status writes look up ids by the hundred)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from spark_gateway.db import browsing as queries
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.domain.ids import new_gateway_id
from tests.db.test_repository import make_row


async def plan(db: Database, statement: str, params: dict[str, Any]) -> str:
    """The plan PostgreSQL picks when it may use any index (sequential scans priced out, as on a big
    table), as one string."""
    async with db.transaction() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        rows = (await session.execute(text(f"EXPLAIN {statement}"), params)).all()
    return "\n".join(row[0] for row in rows)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_id_lookups_use_the_primary_key_and_the_search_its_trigram_indexes(database: Database) -> None:
    ids = [new_gateway_id("local", "dflt") for _ in range(200)]
    async with database.transaction() as session:
        for i, gateway_id in enumerate(ids):
            row = make_row(gateway_id)
            row.name = f"Nightly-{i}"
            await repo.insert_application(session, row)
        trigrams = (
            await session.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"))
        ).first()

    lookup = await plan(
        database,
        "SELECT state FROM applications WHERE gateway_id = ANY(:ids) FOR UPDATE",
        {"ids": ids[:100]},
    )
    assert "pk_applications" in lookup and "trgm" not in lookup, lookup

    needle = ids[42].split("-")[-1].upper()  # the search matches ids in any case, as it does names
    async with database.transaction() as session:
        found = await queries.browse_applications(
            session, queries.BrowseFilter(search=needle), before=None, limit=10
        )
    assert [r.row.gateway_id for r in found] == [ids[42]]
    if trigrams is None:
        pytest.skip("pg_trgm is not available on this server: the search scans (migration 0007)")
    search = await plan(
        database,
        "SELECT gateway_id FROM applications WHERE lower(gateway_id) LIKE :p OR lower(name) LIKE :p",
        {"p": f"%{needle.lower()}%"},
    )
    assert "ix_applications_gateway_id_lower_trgm" in search and "ix_applications_name_trgm" in search, search
