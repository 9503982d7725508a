"""Schemathesis over the real gateway's `/openapi.json`, served over real HTTP (uvicorn, PostgreSQL).

Every operation gets positive (schema-valid) and, where the schema leaves room, negative cases, once
without credentials and once as `bob`, an ordinary authenticated user. Every response must be free of
5xx and match the documented status codes, headers and bodies (error envelopes included). About half
of bob's submissions get a real application file and namespace planted, so generated names, args,
confs and labels get past the file check and reach validation, storage and the read paths.

Stored data is compared before and after each run: without credentials nothing may change at all, and
bob may only add or change applications that are his; alice's seeded batches and application (and
their logs) must come through untouched. Examples are bounded and derandomized: the run is repeatable
and takes about two minutes on two cores.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import func, select

from spark_gateway.api.app import create_app
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.db.models import ApplicationRow, LivyBatchRow, LogLineRow
from spark_gateway.settings import Settings
from tests.api.security.helpers import basic, write_htpasswd
from tests.conftest import create_pg_database, drop_pg_database, quick_or_long

pytestmark = pytest.mark.timeout(600)

PI = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")
PASSWORDS = {"alice": "pw-alice", "bob": "pw-bob", "root": "pw-root"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Every operation of the gateway, and how many cases each gets per caller (positive, negative). Without
# parameters there is nothing to vary (and nothing negative); a Livy batch reference may be any string.
OPERATIONS: dict[str, tuple[int, int]] = {
    "GET /health": (5, 0),
    "GET /ready": (5, 0),
    "GET /api/livy/version": (5, 0),
    "GET /api/livy/batches": (100, 50),
    "POST /api/livy/batches": (110, 50),
    "GET /api/livy/batches/{batch_id}": (140, 0),
    "DELETE /api/livy/batches/{batch_id}": (140, 0),
    "GET /api/livy/batches/{batch_id}/state": (140, 0),
    "GET /api/livy/batches/{batch_id}/log": (100, 50),
    "GET /api/livy/sessions": (60, 30),
    "POST /api/livy/sessions": (80, 30),
    "GET /api/livy/sessions/{session_id}": (60, 0),
    "DELETE /api/livy/sessions/{session_id}": (60, 0),
    "GET /api/livy/sessions/{session_id}/state": (40, 0),
    "GET /api/livy/sessions/{session_id}/log": (40, 20),
    "GET /api/livy/sessions/{session_id}/statements": (40, 20),
    "POST /api/livy/sessions/{session_id}/statements": (60, 20),
    "GET /api/livy/sessions/{session_id}/statements/{statement_id}": (40, 0),
    "POST /api/livy/sessions/{session_id}/statements/{statement_id}/cancel": (40, 0),
    "POST /api/livy/sessions/{session_id}/completion": (40, 20),
    "GET /api/v1/applications": (100, 50),
    "POST /api/v1/applications": (90, 50),
    "GET /api/v1/applications/{gateway_id}": (100, 50),
    "DELETE /api/v1/applications/{gateway_id}": (100, 50),
    "GET /api/v1/applications/{gateway_id}/status": (100, 50),
    "GET /api/v1/applications/{gateway_id}/logs": (100, 50),
}
EXAMPLES_SHARE = quick_or_long(0.4, 1.0)  # make test sends 40% of the cases; make test-long all of them


def scaled(count: int) -> int:
    return 0 if count == 0 else max(5, round(count * EXAMPLES_SHARE))


OPEN = {"GET /health", "GET /ready"}
CALLERS = {"anonymous": {}, "bob": basic("bob", PASSWORDS["bob"])}
RUNS: dict[str, Counter[int]] = {}  # response statuses per "operation as caller", reported at the end


@dataclass
class Served:
    base_url: str
    db_url: str
    schema: Any


@pytest.fixture(scope="module")
def served(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    db_url = asyncio.run(create_pg_database(pg_url))
    htpasswd = write_htpasswd(tmp / "htpasswd", PASSWORDS)
    gateway_settings = Settings.load(
        None,
        dataDir=str(tmp / "data"),
        database={"url": db_url},
        gateway={
            "middleware": [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(htpasswd)}}],
            "authorization": {"admins": ["root"]},
        },
        sessions={"maxSessionsPerUser": 0},
    )
    app = create_app(gateway_settings, background=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.05)
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        seed(base_url, db_url)
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
        yield Served(base_url, db_url, schema)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        asyncio.run(drop_pg_database(db_url))
        if RUNS:
            total = sum(sum(statuses.values()) for statuses in RUNS.values())
            print(f"\nschemathesis: {total} cases over {len(OPERATIONS)} operations x {len(CALLERS)} callers")
            for run, statuses in RUNS.items():
                print(f"  {run}: {dict(sorted(statuses.items()))}")


def seed(base_url: str, db_url: str) -> None:
    """Alice's data, which no run may touch: two batches (one named) and an application, with logs."""
    alice = basic("alice", PASSWORDS["alice"])
    with httpx.Client(base_url=base_url, headers=alice) as http:
        gateway_ids = []
        for body in ({"file": PI, "name": "alice-etl"}, {"file": PI, "args": ["1"]}):
            response = http.post("/api/livy/batches", json=body)
            assert response.status_code == 201, response.text
            gateway_ids.append(response.json()["appInfo"]["GatewayId"])
        app = {
            "metadata": {"namespace": "default", "name": "alice-pi"},
            "spec": {"type": "Python", "sparkVersion": "4.0.0", "mainApplicationFile": PI},
        }
        response = http.post("/api/v1/applications", json=app)
        assert response.status_code == 201, response.text
        gateway_ids.append(response.json()["gatewayId"])

    async def add_logs() -> None:
        db = Database(db_url)
        try:
            async with db.transaction() as session:
                for gid in gateway_ids:
                    await repo.append_log_lines(
                        session, gid, [f"{gid} line {i}" for i in range(20)], keep=100
                    )
        finally:
            await db.dispose()

    asyncio.run(add_logs())


Snapshot = dict[str, tuple[Any, ...]]


def snapshot(db_url: str) -> Snapshot:
    """Every stored application (all columns that matter), its batch id and its log size."""

    async def read() -> Snapshot:
        db = Database(db_url)
        try:
            async with db.transaction() as session:
                batches = dict(
                    (await session.execute(select(LivyBatchRow.gateway_id, LivyBatchRow.batch_id))).all()
                )
                logs = dict(
                    (
                        await session.execute(
                            select(LogLineRow.gateway_id, func.count()).group_by(LogLineRow.gateway_id)
                        )
                    ).all()
                )
                rows = (await session.execute(select(ApplicationRow))).scalars().all()
                return {
                    row.gateway_id: (
                        row.owner,
                        row.proxy_user,
                        row.name,
                        row.state,
                        row.spec,
                        row.status,
                        row.deleted_at,
                        batches.get(row.gateway_id),
                        logs.get(row.gateway_id, 0),
                    )
                    for row in rows
                }
        finally:
            await db.dispose()

    return asyncio.run(read())


def plant_valid_file(case: Any) -> None:
    """Give a generated submission a file the gateway accepts, keeping everything else it generated."""
    body = case.body
    if case.operation.label == "POST /api/livy/batches" and isinstance(body, dict):
        body["file"] = PI
        if case.headers:
            case.headers.pop("X-Spark-Gateway-Livy-Namespace", None)
    elif case.operation.label == "POST /api/livy/sessions" and isinstance(body, dict):
        body["kind"] = "pyspark"
        if case.headers:
            case.headers.pop("X-Spark-Gateway-Livy-Namespace", None)
    elif "{session_id}" in case.operation.label and case.path_parameters:
        # Sessions bob created in the POST runs: 0 may be deleted, 2 is left to the others.
        case.path_parameters["session_id"] = "0" if case.operation.method.upper() == "DELETE" else "2"
        if isinstance(body, dict):
            body["kind"] = "pyspark"  # session 2 may be a shared one, which needs it
    elif case.operation.label == "POST /api/v1/applications" and isinstance(body, dict):
        metadata = body.get("metadata")
        if not isinstance(metadata, dict):
            metadata = body["metadata"] = {}
        metadata["namespace"] = "default"
        spec = body.get("spec")
        if isinstance(spec, dict):
            spec["mainApplicationFile"] = PI
            spec.pop("deps", None)


def run_operation(
    served: Served, label: str, headers: dict[str, str], mode: GenerationMode, count: int
) -> Counter[int]:
    """Send `count` generated cases; the statuses of the responses."""
    method, path = label.split(" ", 1)
    operation = served.schema[path][method]
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=count,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), plant=st.booleans())
    def test(case: Any, plant: bool) -> None:
        if plant and mode is GenerationMode.POSITIVE:
            plant_valid_file(case)
        response = case.call_and_validate(base_url=served.base_url, headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1
        if not headers and label not in OPEN:
            assert response.status_code == 401, f"{label} without credentials: {response.status_code}"

    test()
    return statuses


def test_every_operation_is_covered(served: Served) -> None:
    labels = {op.ok().label for op in served.schema.get_all_operations()}
    assert labels == set(OPERATIONS)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("label", list(OPERATIONS))
def test_operation(served: Served, label: str, caller: str) -> None:
    headers = CALLERS[caller]
    method = label.split(" ", 1)[0]
    before = snapshot(served.db_url)
    positive, negative = (scaled(n) for n in OPERATIONS[label])
    statuses = run_operation(served, label, headers, GenerationMode.POSITIVE, positive)
    if negative:
        statuses += run_operation(served, label, headers, GenerationMode.NEGATIVE, negative)
    RUNS[f"{label} as {caller}"] = statuses
    after = snapshot(served.db_url)

    if caller == "anonymous":
        assert after == before, "a request without credentials changed stored data"
        return
    # bob may create and delete his own applications; nobody else's may change in any way.
    others_before = {gid: row for gid, row in before.items() if row[0] != "bob"}
    others_after = {gid: row for gid, row in after.items() if row[0] != "bob"}
    assert others_after == others_before, "bob's requests changed someone else's application"
    assert sum(1 for row in before.values() if row[0] == "alice") == 3
    if method == "POST" and not label.endswith(("/cancel", "/completion")):
        # Planted files get generated submissions through every check and into the database.
        assert statuses[201] > 0, statuses
    elif method == "POST":
        assert statuses[200] > 0, statuses
