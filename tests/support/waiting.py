"""Waiting on a condition instead of sleeping for a fixed time: the test goes on as soon as it holds."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_until(
    check: Callable[[], Any | Awaitable[Any]], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Poll `check` (plain or async) until it returns something truthy, and return that; fail after
    `timeout` seconds naming `what` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
