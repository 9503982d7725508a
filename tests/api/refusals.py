"""Refused requests, checked twice: the status and error envelope the client sees, and the stored data
(applications, batch ids, log lines, read straight from the database) before and after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from spark_gateway.db.models import ApplicationRow, LivyBatchRow, LogLineRow
from tests.api.conftest import Gateway

PI = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")
LIVY = "/api/livy/batches"
V1 = "/api/v1/applications"


def spark_app(main: str = PI, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": "pi"},
        "spec": {"type": "Python", "sparkVersion": "4.0.0", "mainApplicationFile": main, **spec},
    }


def with_metadata(**metadata: Any) -> dict[str, Any]:
    app = spark_app()
    app["metadata"].update(metadata)
    return app


async def stored(gw: Gateway) -> tuple[Any, ...]:
    """Everything a request could have changed: every application row (deleted ones too), batch ids, logs."""
    async with gw.runtime.db.transaction() as session:
        rows = (await session.execute(select(ApplicationRow).order_by(ApplicationRow.gateway_id))).scalars()
        apps = [(r.gateway_id, r.owner, r.state, r.spec, r.deleted_at) for r in rows]
        batches = (await session.execute(select(func.count()).select_from(LivyBatchRow))).scalar_one()
        lines = (await session.execute(select(func.count()).select_from(LogLineRow))).scalar_one()
    return tuple(apps), batches, lines


async def refused(
    gw: Gateway,
    method: str,
    path: str,
    *,
    status: int,
    fragment: str,
    body: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Send a request that must be refused with `status` and a message containing `fragment`."""
    before = await stored(gw)
    if content is None and body is not None:
        content = json.dumps(body).encode()
    response = await gw.client.request(method, path, content=content, headers=headers)
    assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
    envelope = "msg" if path.startswith("/api/livy") else "error"
    assert set(response.json()) == {envelope}, response.text
    assert fragment in response.json()[envelope], response.text
    assert await stored(gw) == before, f"{method} {path} was refused but changed stored data"
    return response
