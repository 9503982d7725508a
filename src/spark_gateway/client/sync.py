"""The blocking client: `SparkGatewayClient(...).batches` (Livy) and `.applications` (v1).

with SparkGatewayClient("http://gateway:8080", user="alice", password="...") as gw:
    batch = gw.batches.submit("/jobs/pi.py", ["10"], name="pi")
    for line in gw.batches.follow(batch.id):
        print(line)
    print(gw.batches.wait(batch.id))   # "success"
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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


class SparkGatewayClient:
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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.connection = Connection.resolve(url, user, password, token)
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=self.connection.url,
            auth=self.connection.auth(),
            headers={"User-Agent": USER_AGENT, **self.connection.headers()},
            timeout=timeout,
            transport=transport,
        )
        self.batches = Batches(self, LivyCalls(livy_prefix))
        self.applications = Applications(self, ApplicationCalls())

    def __enter__(self) -> SparkGatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self._http.request(
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
            time.sleep(delay)
            attempt += 1


class Batches:
    """Livy batches: submit, get, state, wait, logs, follow, list, kill."""

    def __init__(self, client: SparkGatewayClient, calls: LivyCalls) -> None:
        self._client = client
        self._calls = calls

    def submit(
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
        return self._client.send(call)

    def get(self, batch_id: int | str) -> Batch:
        return self._client.send(self._calls.get(batch_id))

    def state(self, batch_id: int | str) -> str:
        return self._client.send(self._calls.state(batch_id))

    def logs(self, batch_id: int | str, offset: int | None = None, size: int = 100) -> LogPage:
        """A page of the driver log; without `offset`, the last `size` lines."""
        return self._client.send(self._calls.logs(batch_id, offset, size))

    def list(self, offset: int = 0, size: int = 100) -> BatchPage:
        return self._client.send(self._calls.list(offset, size))

    def iter_all(self, page_size: int = 100) -> Iterator[Batch]:
        """Every batch the caller may see, oldest first, page by page."""
        offset = 0
        while True:
            page = self.list(offset, page_size)
            yield from page.batches
            offset += len(page.batches)
            if not page.batches or offset >= page.total:
                return

    def kill(self, batch_id: int | str) -> None:
        """Kill the batch if it runs and remove it (Livy's DELETE)."""
        self._client.send(self._calls.kill(batch_id))

    def wait(
        self,
        batch_id: int | str,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[Batch], None] | None = None,
    ) -> str:
        """Poll until the batch ends; returns its final state. WaitTimeout after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            batch = self.get(batch_id)
            if on_update:
                on_update(batch)
            if batch.is_final:
                return batch.state
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"batch {batch_id}", batch.state, timeout or 0)
            time.sleep(poll)

    def follow(self, batch_id: int | str, offset: int = 0, poll: float = 1.0) -> Iterator[str]:
        """The driver log from line `offset` on, new lines as they come; ends after the batch ends."""
        while True:
            state = self.state(batch_id)  # before reading, so the last read sees every line
            while (page := self.logs(batch_id, offset, 1000)).lines:
                yield from page.lines
                offset += len(page.lines)
            if state in LIVY_FINAL_STATES:
                return
            time.sleep(poll)


class Applications:
    """Native (v1) applications: submit, get, state, wait, logs, follow, list, kill."""

    def __init__(self, client: SparkGatewayClient, calls: ApplicationCalls) -> None:
        self._client = client
        self._calls = calls

    def submit(
        self,
        application: Mapping[str, Any],
        *,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Application:
        """Submit a SparkApplication (`metadata.namespace` required)."""
        call = self._calls.submit(application, callback_url=callback_url, idempotency_key=idempotency_key)
        return self._client.send(call)

    def get(self, gateway_id: str) -> Application:
        return self._client.send(self._calls.get(gateway_id))

    def state(self, gateway_id: str) -> str:
        return self._client.send(self._calls.state(gateway_id))

    def logs(self, gateway_id: str, lines: int | None = None) -> list[str]:
        """The last `lines` driver log lines (the gateway's `defaultLogLines` when None)."""
        return self._client.send(self._calls.logs(gateway_id, lines))

    def list(self, cluster: str | None = None, namespace: str | None = None) -> list[Application]:
        return self._client.send(self._calls.list(cluster, namespace))

    def kill(self, gateway_id: str) -> None:
        self._client.send(self._calls.kill(gateway_id))

    def wait(
        self,
        gateway_id: str,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[Application], None] | None = None,
    ) -> str:
        """Poll until the application ends; returns COMPLETED or FAILED. WaitTimeout after `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            app = self.get(gateway_id)
            if on_update:
                on_update(app)
            if app.is_final:
                return app.state
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"application {gateway_id}", app.state, timeout or 0)
            time.sleep(poll)

    def follow(self, gateway_id: str, poll: float = 1.0, window: int = 500) -> Iterator[str]:
        """The driver log's new lines as they come (from the last `window` lines); ends with the app."""
        seen: list[str] = []
        while True:
            state = self.state(gateway_id)
            current = self.logs(gateway_id, window)
            yield from new_lines(seen, current)
            seen = current
            if state in APP_FINAL_STATES:
                return
            time.sleep(poll)
