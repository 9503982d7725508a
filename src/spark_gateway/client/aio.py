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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from spark_gateway.client.calls import ApplicationCalls, Call, Emit, LivyCalls, Plan, Sleep
from spark_gateway.client.core import ClientCore, Resource
from spark_gateway.client.models import Application, Batch, BatchPage, LogPage
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


class AsyncBatches(Resource["AsyncSparkGatewayClient", LivyCalls]):
    """Livy batches: submit, get, state, wait, logs, follow, list, kill."""

    async def submit(
        self,
        file: str,
        args: Sequence[str] = (),
        *,
        conf: Mapping[str, str] | None = None,
        name: str | None = None,
        namespace: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Batch:
        """Submit `file` (other Livy fields, e.g. `className`, `driverMemory`, as keyword arguments)."""
        call = self._calls.submit(file, args, conf, name, namespace, callback_url, idempotency_key, fields)
        return await self._client.send(call)

    async def get(self, batch_id: int | str) -> Batch:
        return await self._client.send(self._calls.get(batch_id))

    async def state(self, batch_id: int | str) -> str:
        return await self._client.send(self._calls.state(batch_id))

    async def logs(self, batch_id: int | str, offset: int | None = None, size: int = 100) -> LogPage:
        """A page of the driver log; without `offset`, the last `size` lines."""
        return await self._client.send(self._calls.logs(batch_id, offset, size))

    async def list(self, offset: int = 0, size: int = 100) -> BatchPage:
        return await self._client.send(self._calls.list(offset, size))

    def iter_all(self, page_size: int = 100) -> AsyncIterator[Batch]:
        """Every batch the caller may see, oldest first, page by page."""
        return self._client.stream(self._calls.iter_all(page_size))

    async def kill(self, batch_id: int | str) -> None:
        """Kill the batch if it runs and remove it (Livy's DELETE)."""
        await self._client.send(self._calls.kill(batch_id))

    async def wait(
        self,
        batch_id: int | str,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[Batch], None] | None = None,
    ) -> str:
        """Poll until the batch ends; returns its final state. WaitTimeout after `timeout` seconds."""
        return await self._client.send(self._calls.wait(batch_id, timeout, poll, on_update))

    def follow(self, batch_id: int | str, offset: int = 0, poll: float = 1.0) -> AsyncIterator[str]:
        """The driver log from line `offset` on, new lines as they come; ends after the batch ends."""
        return self._client.stream(self._calls.follow(batch_id, offset, poll))


class AsyncApplications(Resource["AsyncSparkGatewayClient", ApplicationCalls]):
    """Native (v1) applications: submit, get, state, wait, logs, follow, list, kill."""

    async def submit(
        self,
        application: Mapping[str, Any],
        *,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Application:
        """Submit a SparkApplication (`metadata.namespace` required)."""
        call = self._calls.submit(application, callback_url=callback_url, idempotency_key=idempotency_key)
        return await self._client.send(call)

    async def get(self, gateway_id: str) -> Application:
        return await self._client.send(self._calls.get(gateway_id))

    async def state(self, gateway_id: str) -> str:
        return await self._client.send(self._calls.state(gateway_id))

    async def logs(self, gateway_id: str, lines: int | None = None) -> list[str]:
        """The last `lines` driver log lines (the gateway's `defaultLogLines` when None)."""
        return await self._client.send(self._calls.logs(gateway_id, lines))

    async def list(self, cluster: str | None = None, namespace: str | None = None) -> list[Application]:
        return await self._client.send(self._calls.list(cluster, namespace))

    async def kill(self, gateway_id: str) -> None:
        await self._client.send(self._calls.kill(gateway_id))

    async def wait(
        self,
        gateway_id: str,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[Application], None] | None = None,
    ) -> str:
        """Poll until the application ends; returns COMPLETED or FAILED. WaitTimeout after `timeout` s."""
        return await self._client.send(self._calls.wait(gateway_id, timeout, poll, on_update))

    def follow(self, gateway_id: str, poll: float = 1.0, window: int = 500) -> AsyncIterator[str]:
        """The driver log's new lines as they come (from the last `window` lines); ends with the app."""
        return self._client.stream(self._calls.follow(gateway_id, poll, window))
