"""A statement in flight survives its gateway: a restart (SQLite) and a kill -9 of a replica (PostgreSQL).

The driver only calls out and the database holds every statement and result, so the runner just
retries against whichever gateway answers next (here a TCP forwarder stands in for the balancer).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import create_pg_database, drop_pg_database
from tests.e2e.conftest import REPO, GatewayProcess, free_port
from tests.support.livy_sessions import run, start_session, submit, text, wait_statement
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.spark, pytest.mark.e2e, pytest.mark.timeout(600)]
SLOW = "import time\ntime.sleep(8)\n6 * 7"


@pytest.fixture
def env(spark_env: dict[str, str]) -> dict[str, str]:
    env = dict(spark_env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def process(tmp: Path, env: dict[str, str], port: int, name: str, config: dict) -> GatewayProcess:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"dataDir": str(tmp / "data"), **config}))
    return GatewayProcess(path, port, tmp / f"{name}.log", env)


@pytest.mark.long  # make test runs the harsher kill -9 of a replica mid-statement (below)
def test_gateway_restart_mid_statement_loses_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    port = free_port()
    first = process(tmp_path, env, port, "first", {}).start()
    try:
        with httpx.Client(base_url=first.url, timeout=60) as client:
            sid = start_session(client)
            run(client, sid, "kept = 'state survives'")
            stid = submit(client, sid, SLOW)
            wait_statement(client, sid, stid, states={"running"})
            first.stop()
            second = process(tmp_path, env, port, "second", {}).start()
            try:
                done = wait_statement(client, sid, stid, timeout=120)
                assert done["state"] == "available" and text(done["output"]) == "42"
                assert text(run(client, sid, "kept")) == "'state survives'"
                assert client.delete(f"/api/livy/sessions/{sid}").status_code == 200
            finally:
                second.stop()
    finally:
        first.stop()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[str]:
    url = asyncio.run(create_pg_database(pg_url))
    yield url
    asyncio.run(drop_pg_database(url))


@pytest.mark.postgres
def test_kill_9_of_a_replica_mid_statement_loses_nothing(
    tmp_path: Path, env: dict[str, str], pg_db: str
) -> None:
    ports = [free_port(), free_port()]
    proxy = TcpProxy(ports)
    config = {"database": {"url": pg_db}, "sessions": {"gatewayUrl": f"http://127.0.0.1:{proxy.port}"}}
    replicas = [process(tmp_path, env, p, f"replica-{i}", config).start() for i, p in enumerate(ports)]
    try:
        with (
            httpx.Client(base_url=replicas[0].url, timeout=60) as a,
            httpx.Client(base_url=replicas[1].url, timeout=60) as b,
        ):
            sid = start_session(a)
            stid = submit(a, sid, SLOW)
            wait_statement(b, sid, stid, states={"running"})
            replicas[0].stop(signal.SIGKILL)
            done = wait_statement(b, sid, stid, timeout=120)
            assert done["state"] == "available" and text(done["output"]) == "42"
            assert text(run(b, sid, "1 + 1")) == "2"
            assert b.delete(f"/api/livy/sessions/{sid}").status_code == 200
    finally:
        for replica in replicas:
            replica.stop()
        proxy.close()
