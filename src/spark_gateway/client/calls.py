"""Every gateway operation as data: the request to send and how to read its answer.

The sync and async clients only differ in how they send a `Call` and how they sleep, so the requests,
the parsing, the retry rules and the operations of several calls (`wait`, `follow`, `iter_all`, as
`Plan`s: generators that yield Calls, Sleeps and Emits, run by `steps.Stepper`) live here once. The
methods are also those of `client.batches` and `client.applications`: `@sends` and `@streams.of`
(`resources`) say how a client performs what they build.
`retry_delay` decides whether (and after how long) a failed attempt is retried: only calls that are
safe to repeat, i.e. reads, deletes, and creates that carry an `Idempotency-Key` (the gateway then
answers a repeat with the original result) - which is every call here, since creates always get a key.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

import httpx

from spark_gateway.client.errors import WaitTimeout, error_from_response
from spark_gateway.client.models import (
    APP_FINAL_STATES,
    LIVY_FINAL_STATES,
    Application,
    Batch,
    BatchPage,
    LogPage,
)
from spark_gateway.client.resources import sends, streams

T = TypeVar("T")
J = TypeVar("J", Batch, Application)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_DELAY = 10.0
NAMESPACE_HEADER = "X-Spark-Gateway-Livy-Namespace"
CALLBACK_HEADER = "X-Spark-Gateway-Callback"
V1 = "/api/v1/applications"


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: A repeated DELETE that finds nothing means the first attempt did its work.
    gone_is_done: bool = False

    def request_args(self) -> dict[str, Any]:
        """The arguments of `httpx.Client.request` (and `AsyncClient.request`) for one attempt."""
        return {
            "method": self.method,
            "url": self.path,
            "params": self.params,
            "json": self.json,
            "headers": self.headers,
        }


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Emit:
    """An item for the caller of a streaming plan (a log line of `follow`, a batch of `iter_all`)."""

    item: Any


#: An operation of several calls: each yielded Call is answered with its parsed result.
Plan: TypeAlias = Generator[Call[Any] | Sleep | Emit, Any, T]


def check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    raise error_from_response(response)


def retry_delay(attempt: int, response: httpx.Response | None, backoff: float) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when this answer is final.

    `response` None means the request got no answer (connection refused, reset, timeout).
    """
    if response is not None and response.status_code not in RETRY_STATUSES:
        return None
    delay: float = min(backoff * 2**attempt, MAX_RETRY_DELAY)
    after = str(response.headers.get("Retry-After", "")) if response is not None else ""
    if after.isdigit():
        delay = min(max(delay, float(after)), MAX_RETRY_DELAY)
    return delay


def _json(response: httpx.Response) -> Any:
    return check(response).json()


def _nothing(response: httpx.Response) -> None:
    check(response)


class LivyCalls:
    """Livy batches under `prefix` (`/api/livy` on the gateway; `""` for Apache Livy or root paths)."""

    def __init__(self, prefix: str = "/api/livy") -> None:
        self.prefix = prefix.rstrip("/")

    @sends
    def submit(
        self,
        /,  # else `**fields` could hold `self`, and `resources.sends` could not drop it from the signature
        file: str,
        args: Sequence[str] = (),
        *,
        conf: Mapping[str, str] | None = None,
        name: str | None = None,
        namespace: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Call[Batch]:
        """Submit `file` (other Livy fields, e.g. `className`, `driverMemory`, as keyword arguments)."""
        body: dict[str, Any] = {"file": file, **fields}
        if args:
            body["args"] = list(args)
        if conf:
            body["conf"] = dict(conf)
        if name:
            body["name"] = name
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        if namespace:
            headers[NAMESPACE_HEADER] = namespace
        if callback_url:
            headers[CALLBACK_HEADER] = callback_url
        return Call("POST", f"{self.prefix}/batches", _batch, json=body, headers=headers)

    @sends
    def get(self, batch_id: int | str) -> Call[Batch]:
        return Call("GET", f"{self.prefix}/batches/{batch_id}", _batch)

    @sends
    def state(self, batch_id: int | str) -> Call[str]:
        return Call("GET", f"{self.prefix}/batches/{batch_id}/state", lambda r: str(_json(r)["state"]))

    @sends
    def logs(self, batch_id: int | str, offset: int | None = None, size: int = 100) -> Call[LogPage]:
        """A page of the driver log; without `offset`, the last `size` lines."""
        params: dict[str, Any] = {"size": size}
        if offset is not None:
            params["from"] = offset
        return Call(
            "GET", f"{self.prefix}/batches/{batch_id}/log", lambda r: LogPage.from_json(_json(r)), params
        )

    @sends
    def list(self, offset: int = 0, size: int = 100) -> Call[BatchPage]:
        params = {"from": offset, "size": size}
        return Call("GET", f"{self.prefix}/batches", lambda r: BatchPage.from_json(_json(r)), params)

    @sends
    def kill(self, batch_id: int | str) -> Call[None]:
        """Kill the batch if it runs and remove it (Livy's DELETE)."""
        return Call("DELETE", f"{self.prefix}/batches/{batch_id}", _nothing, gone_is_done=True)

    @sends
    def wait(
        self,
        batch_id: int | str,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[Batch], None] | None = None,
    ) -> Plan[str]:
        """Poll until the batch ends; returns its final state. WaitTimeout after `timeout` seconds."""
        return waiting(self.get(batch_id), f"batch {batch_id}", timeout, poll, on_update)

    @streams.of(Batch)
    def iter_all(self, page_size: int = 100) -> Plan[None]:
        """Every batch the caller may see, oldest first, page by page."""
        offset = 0
        while True:
            page: BatchPage = yield self.list(offset, page_size)
            for batch in page.batches:
                yield Emit(batch)
            offset += len(page.batches)
            if not page.batches or offset >= page.total:
                return

    @streams.of(str)
    def follow(self, batch_id: int | str, offset: int = 0, poll: float = 1.0) -> Plan[None]:
        """The driver log from line `offset` on, new lines as they come; ends after the batch ends."""
        while True:
            state = yield self.state(batch_id)  # before reading, so the last read sees every line
            while (page := (yield self.logs(batch_id, offset, 1000))).lines:
                for line in page.lines:
                    yield Emit(line)
                offset += len(page.lines)
            if state in LIVY_FINAL_STATES:
                return
            yield Sleep(poll)


def _batch(response: httpx.Response) -> Batch:
    return Batch.from_json(_json(response))


def _application(response: httpx.Response) -> Application:
    return Application.from_json(_json(response))


class ApplicationCalls:
    """Native applications under `/api/v1/applications` (kubeflow SparkApplication resources)."""

    @sends
    def submit(
        self,
        application: Mapping[str, Any],
        *,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Call[Application]:
        """Submit a SparkApplication (`metadata.namespace` required)."""
        body = dict(application)
        if callback_url:
            body["callbackUrl"] = callback_url
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return Call("POST", V1, _application, json=body, headers=headers)

    @sends
    def get(self, gateway_id: str) -> Call[Application]:
        return Call("GET", f"{V1}/{gateway_id}", _application)

    @sends
    def state(self, gateway_id: str) -> Call[str]:
        def parse(response: httpx.Response) -> str:
            return str((_json(response).get("applicationState") or {}).get("state") or "")

        return Call("GET", f"{V1}/{gateway_id}/status", parse)

    @sends
    def logs(self, gateway_id: str, lines: int | None = None) -> Call[list[str]]:
        """The last `lines` driver log lines (the gateway's `defaultLogLines` when None)."""
        params = {} if lines is None else {"lines": lines}

        def parse(response: httpx.Response) -> list[str]:
            text = _json(response)
            return text.split("\n") if text else []

        return Call("GET", f"{V1}/{gateway_id}/logs", parse, params)

    @sends
    def list(self, cluster: str | None = None, namespace: str | None = None) -> Call[list[Application]]:
        params = {k: v for k, v in (("cluster", cluster), ("namespace", namespace)) if v}
        return Call("GET", V1, lambda r: [Application.from_json(a) for a in _json(r)], params)

    @sends
    def kill(self, gateway_id: str) -> Call[None]:
        return Call("DELETE", f"{V1}/{gateway_id}", _nothing, gone_is_done=True)

    @sends
    def wait(
        self,
        gateway_id: str,
        timeout: float | None = None,
        poll: float = 1.0,
        on_update: Callable[[Application], None] | None = None,
    ) -> Plan[str]:
        """Poll until the application ends; returns COMPLETED or FAILED. WaitTimeout after `timeout` s."""
        return waiting(self.get(gateway_id), f"application {gateway_id}", timeout, poll, on_update)

    @streams.of(str)
    def follow(self, gateway_id: str, poll: float = 1.0, window: int = 500) -> Plan[None]:
        """The driver log's new lines as they come (from the last `window` lines); ends with the app."""
        seen: list[str] = []
        while True:
            state = yield self.state(gateway_id)
            current = yield self.logs(gateway_id, window)
            for line in new_lines(seen, current):
                yield Emit(line)
            seen = current
            if state in APP_FINAL_STATES:
                return
            yield Sleep(poll)


def waiting(
    get: Call[J], what: str, timeout: float | None, poll: float, on_update: Callable[[J], None] | None
) -> Plan[str]:
    """Poll `get` until the job ends; its final state. WaitTimeout after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job: J = yield get
        if on_update:
            on_update(job)
        if job.is_final:
            return job.state
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeout(what, job.state, timeout or 0)
        yield Sleep(poll)


def new_lines(previous: Sequence[str], current: Sequence[str]) -> list[str]:
    """The lines of `current` (a window on the end of a log) that `previous` (an earlier window) lacked.

    The longest prefix of `current` that is a suffix of `previous` is what both saw; with repeated
    lines the longest overlap is taken, so a line is never shown twice.
    """
    for overlap in range(min(len(previous), len(current)), 0, -1):
        if list(current[:overlap]) == list(previous[-overlap:]):
            return list(current[overlap:])
    return list(current)
