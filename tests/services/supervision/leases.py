"""Helpers for lease tests: short lease timings, bounded waiting, and one-statement transactions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spark_gateway.db.engine import Database

REPO = Path(__file__).resolve().parents[3]
TTL, RENEW = 1.0, 0.2


async def until(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Wait (bounded) until `predicate()` is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def held(db: Database, fn: Callable[..., Any], *args: Any) -> Any:
    async with db.transaction() as session:
        return await fn(session, *args)
