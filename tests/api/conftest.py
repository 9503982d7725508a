"""An in-process gateway per test (real database, real local backend, no background supervision)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from spark_gateway.api.app import create_app
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.settings import Settings


@dataclass
class Gateway:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def runtime(self) -> GatewayRuntime:
        runtime: GatewayRuntime = self.app.state.runtime
        return runtime


def gateway_settings(db_url: str, data_dir: Path, **overrides: Any) -> Settings:
    return Settings.load(None, dataDir=str(data_dir), database={"url": db_url}, **overrides)


GatewayFactory = Callable[..., Any]


@pytest.fixture
async def make_gateway(db_url: str, tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    stack: list[tuple[FastAPI, Any, httpx.AsyncClient]] = []

    async def factory(**overrides: Any) -> Gateway:
        settings = gateway_settings(db_url, tmp_path / "data", **overrides)
        app = create_app(settings, background=False)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
        stack.append((app, lifespan, client))
        return Gateway(app, client, settings)

    yield factory
    for _app, lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Gateway:
    gw: Gateway = await make_gateway()
    return gw
