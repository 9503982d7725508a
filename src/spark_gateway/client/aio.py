"""The asyncio client: `AsyncSparkGatewayClient(...).batches` (Livy) and `.applications` (v1).

    async with AsyncSparkGatewayClient("http://gateway:8080", token="...") as gw:
        batch = await gw.batches.submit("/jobs/pi.py", ["10"], name="pi")
        async for line in gw.batches.follow(batch.id):
            print(line)
        print(await gw.batches.wait(batch.id))   # "success"

Same calls, arguments and results as the blocking client (`spark_gateway.client.sync`): both perform
the requests, retries and polling loops of `calls` and `steps`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx

from spark_gateway.client.calls import ApplicationCalls, Call, Emit, LivyCalls, Plan, Sleep
from spark_gateway.client.core import ClientCore
from spark_gateway.client.resources import Awaiting, Resource
from spark_gateway.client.steps import Attempt, Step

T = TypeVar("T")


class AsyncSparkGatewayClient(ClientCore[httpx.AsyncBaseTransport]):
    __doc__ = ClientCore.__doc__

    def _open(self, http_options: dict[str, Any], livy: LivyCalls, apps: ApplicationCalls) -> None:
        self._http = httpx.AsyncClient(**http_options)
        self.batches = AsyncBatches(self, livy)
        self.applications = AsyncApplications(self, apps)

    async def __aenter__(self) -> AsyncSparkGatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T] | Plan[T]) -> T:
        """Perform a call (with its retries) or a plan of several; the parsed result."""
        stepper = self._stepper(call)
        for step in stepper:
            stepper.answer(await self._perform(step))
        return stepper.result

    async def stream(self, plan: Plan[None]) -> AsyncIterator[Any]:
        """Perform a plan, yielding what it emits as it comes."""
        stepper = self._stepper(plan)
        for step in stepper:
            if isinstance(step, Emit):
                yield step.item
            else:
                stepper.answer(await self._perform(step))

    async def _perform(self, step: Step) -> httpx.Response | httpx.TransportError | None:
        if isinstance(step, Attempt):
            try:
                return await self._http.request(**step.call.request_args())
            except httpx.TransportError as exc:
                return exc
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
        return None  # an Emit: `stream` hands it out (`send` runs plans that emit nothing)


class AsyncBatches(Resource[Awaiting], LivyCalls):
    """Livy batches: submit, get, state, wait, logs, follow, list, kill."""


class AsyncApplications(Resource[Awaiting], ApplicationCalls):
    """Native (v1) applications: submit, get, state, wait, logs, follow, list, kill."""
