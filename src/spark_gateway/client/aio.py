"""The asyncio client: `AsyncAsyncSparkGatewayClient(...).batches` (Livy) and `.applications` (v1).

    async with AsyncAsyncSparkGatewayClient("http://gateway:8080", token="...") as gw:
        batch = await gw.batches.submit("/jobs/pi.py", ["10"], name="pi")
        async for line in gw.batches.follow(batch.id):
            print(line)
        print(await gw.batches.wait(batch.id))   # "success"

Same calls, arguments and results as the blocking client (`spark_gateway.client.sync`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from spark_gateway.client.calls import ApplicationCalls, Call, LivyCalls, new_lines, retry_delay
from spark_gateway.client.config import Connection
from spark_gateway.client.errors import WaitTimeout, unreachable
from spark_gateway.client.models import (
    APP_FINAL_STATES,
    LIVY_FINAL_STATES,
    Application,
    Batch,
    BatchPage,
    LogPage,
)

T = TypeVar("T")
USER_AGENT = "spark-gateway-client/0.1"


class AsyncSparkGatewayClient:
    """Base URL and credentials from the arguments, else `SPARK_GATEWAY_URL` / `_USER` / `_PASSWORD` /
    `_TOKEN`. Reads, deletes and creates are retried `retries` times on connection errors and 502/503/504
    (creates carry a generated `Idempotency-Key`, so a retry never submits twice)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        livy_prefix: str = "/api/livy",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.connection = Connection.resolve(url, user, password, token)
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.AsyncClient(
            base_url=self.connection.url,
            auth=self.connection.auth(),
            headers={"User-Agent": USER_AGENT, **self.connection.headers()},
            timeout=timeout,
            transport=transport,
        )
        self.batches = AsyncBatches(self, LivyCalls(livy_prefix))
        self.applications = AsyncApplications(self, ApplicationCalls())

    async def __aenter__(self) -> AsyncSparkGatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._http.request(
                    call.method, call.path, params=call.params, json=call.json, headers=call.headers
                )
            except httpx.TransportError as exc:
                delay = retry_delay(attempt, None, self.backoff)
                if attempt >= self.retries or delay is None:
                    raise unreachable(exc, self.connection.url) from exc
            else:
                if attempt and call.gone_is_done and response.status_code == 404:
                    return call.parse(httpx.Response(200, request=response.request))
                delay = retry_delay(attempt, response, self.backoff)
                if attempt >= self.retries or delay is None:
                    return call.parse(response)
            await asyncio.sleep(delay)
            attempt += 1


class AsyncBatches:
    """Livy batches: submit, get, state, wait, logs, follow, list, kill."""

    def __init__(self, client: AsyncSparkGatewayClient, calls: LivyCalls) -> None:
        self._client = client
        self._calls = calls

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
        call = self._calls.submit(
            file,
            args,
            conf=conf,
            name=name,
            namespace=namespace,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            **fields,
        )
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

    async def iter_all(self, page_size: int = 100) -> AsyncIterator[Batch]:
        """Every batch the caller may see, oldest first, page by page."""
        offset = 0
        while True:
            page = await self.list(offset, page_size)
            for batch in page.batches:
                yield batch
            offset += len(page.batches)
            if not page.batches or offset >= page.total:
                return

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
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            batch = await self.get(batch_id)
            if on_update:
                on_update(batch)
            if batch.is_final:
                return batch.state
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"batch {batch_id}", batch.state, timeout or 0)
            await asyncio.sleep(poll)

    async def follow(self, batch_id: int | str, offset: int = 0, poll: float = 1.0) -> AsyncIterator[str]:
        """The driver log from line `offset` on, new lines as they come; ends after the batch ends."""
        while True:
            state = await self.state(batch_id)  # before reading, so the last read sees every line
            while (page := await self.logs(batch_id, offset, 1000)).lines:
                for line in page.lines:
                    yield line
                offset += len(page.lines)
            if state in LIVY_FINAL_STATES:
                return
            await asyncio.sleep(poll)


class AsyncApplications:
    """Native (v1) applications: submit, get, state, wait, logs, follow, list, kill."""

    def __init__(self, client: AsyncSparkGatewayClient, calls: ApplicationCalls) -> None:
        self._client = client
        self._calls = calls

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
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            app = await self.get(gateway_id)
            if on_update:
                on_update(app)
            if app.is_final:
                return app.state
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"application {gateway_id}", app.state, timeout or 0)
            await asyncio.sleep(poll)

    async def follow(self, gateway_id: str, poll: float = 1.0, window: int = 500) -> AsyncIterator[str]:
        """The driver log's new lines as they come (from the last `window` lines); ends with the app."""
        seen: list[str] = []
        while True:
            state = await self.state(gateway_id)
            current = await self.logs(gateway_id, window)
            for line in new_lines(seen, current):
                yield line
            seen = current
            if state in APP_FINAL_STATES:
                return
            await asyncio.sleep(poll)
