"""A stand-in for the statement runner in a session's driver: speaks its protocol over HTTP.

It gets its secret the way a backend does (`prepare_launch`), so tests of the protocol, cancels,
reaping and isolation run without starting Spark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from spark_gateway.db import session_repository as srepo
from spark_gateway.domain.sessions import secret_from_env
from spark_gateway.domain.sparkapp import SparkApplication
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.session_launch import prepare_launch

PREFIX = "/api/livy/internal/session-runner"


async def launch_secret(rt: GatewayRuntime, session_id: int) -> str:
    """Mint the session's secret as a launch would, and return what its driver would receive."""
    async with rt.db.transaction() as session:
        found = await srepo.get_session(session, session_id)
        assert found is not None
        app = SparkApplication.model_validate(found[1].spec)
    secret = secret_from_env(await prepare_launch(rt, app))
    assert secret is not None
    return secret


@dataclass
class FakeRunner:
    client: httpx.AsyncClient
    session_id: int
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {
            "X-Spark-Gateway-Session": str(self.session_id),
            "X-Spark-Gateway-Session-Secret": self.secret,
        }

    async def call(self, method: str, name: str, body: Any = None, **params: Any) -> httpx.Response:
        return await self.client.request(
            method, f"{PREFIX}/{name}", json=body, params=params or None, headers=self.headers
        )

    async def register(self) -> dict[str, Any]:
        response = await self.call("POST", "register", {"appId": f"local-{self.session_id}"})
        assert response.status_code == 200, response.text
        return response.json()

    async def next(self, wait: float = 0.0) -> dict[str, Any]:
        response = await self.call("GET", "next", wait=wait)
        assert response.status_code == 200, response.text
        return response.json()

    async def result(self, statement_id: int, output: dict[str, Any], cancelled: bool = False) -> None:
        body = {"id": statement_id, "output": output, "cancelled": cancelled}
        response = await self.call("POST", "result", body)
        assert response.status_code == 200, response.text

    async def heartbeat(
        self, statement_id: int | None = None, progress: float | None = None
    ) -> dict[str, Any]:
        response = await self.call("POST", "heartbeat", {"statement": statement_id, "progress": progress})
        assert response.status_code == 200, response.text
        return response.json()


def ok(text: str) -> dict[str, Any]:
    return {"status": "ok", "data": {"text/plain": text}}
