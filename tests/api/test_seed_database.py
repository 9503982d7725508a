"""Two gateways given the seed's own `database:` block share one PostgreSQL database.

Before, `enable: true` without `driver` silently meant an SQLite file per replica: each replica kept
its own applications and batch ids.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from spark_gateway.api.app import create_app
from spark_gateway.settings import Settings
from tests.conftest import EXAMPLES, create_pg_database, drop_pg_database

# From the seed's config/gateway-config-dev.yaml, with `enable` on and this machine's server.
SEED_DATABASE = """
database:
  enable: true
  databaseName: "{name}"
  hostname: "{host}"
  port: {port}
  # DB_USERNAME env var is used if not present
  username: "postgres"
"""


@pytest.fixture
async def seed_database_config(pg_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = await create_pg_database(pg_url)
    host_port = url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    conf = tmp_path / "gateway.yaml"
    conf.write_text(SEED_DATABASE.format(name=url.rsplit("/", 1)[1], host=host, port=port))
    try:
        yield conf
    finally:
        await drop_pg_database(url)


async def test_two_replicas_with_the_seed_database_block_see_the_same_batches(
    seed_database_config: Path, tmp_path: Path
) -> None:
    async with AsyncExitStack() as stack:
        clients = []
        for replica in ("a", "b"):
            settings = Settings.load(seed_database_config, dataDir=str(tmp_path / replica))
            assert settings.database.driver == "postgresql"
            app = create_app(settings, background=False)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
            clients.append(await stack.enter_async_context(client))
        first, second = clients

        created = await first.post("/api/livy/batches", json={"file": str(EXAMPLES / "pi.py")})
        assert created.status_code == 201, created.text
        seen = await second.get(f"/api/livy/batches/{created.json()['id']}")
        assert seen.status_code == 200, seen.text
        assert seen.json()["appInfo"]["GatewayId"] == created.json()["appInfo"]["GatewayId"]
        assert not (tmp_path / "a" / "spark-gateway.db").exists()
