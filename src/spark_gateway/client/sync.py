"""The blocking client: `SparkGatewayClient(...).batches` (Livy) and `.applications` (v1).

with SparkGatewayClient("http://gateway:8080", user="alice", password="...") as gw:
    batch = gw.batches.submit("/jobs/pi.py", ["10"], name="pi")
    for line in gw.batches.follow(batch.id):
        print(line)
    print(gw.batches.wait(batch.id))   # "success"

Requests, parsing, retries and the polling loops are in `calls` and `steps`; this module performs them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx

from spark_gateway.client.calls import ApplicationCalls, Call, Emit, LivyCalls, Plan, Sleep
from spark_gateway.client.core import ClientCore
from spark_gateway.client.resources import Blocking, Resource
from spark_gateway.client.steps import Attempt, Step

T = TypeVar("T")


class SparkGatewayClient(ClientCore[httpx.BaseTransport]):
    __doc__ = ClientCore.__doc__

    def _open(self, http_options: dict[str, Any], livy: LivyCalls, apps: ApplicationCalls) -> None:
        self._http = httpx.Client(**http_options)
        self.batches = Batches(self, livy)
        self.applications = Applications(self, apps)

    def __enter__(self) -> SparkGatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T] | Plan[T]) -> T:
        """Perform a call (with its retries) or a plan of several; the parsed result."""
        stepper = self._stepper(call)
        for step in stepper:
            stepper.answer(self._perform(step))
        return stepper.result

    def stream(self, plan: Plan[None]) -> Iterator[Any]:
        """Perform a plan, yielding what it emits as it comes."""
        stepper = self._stepper(plan)
        for step in stepper:
            if isinstance(step, Emit):
                yield step.item
            else:
                stepper.answer(self._perform(step))

    def _perform(self, step: Step) -> httpx.Response | httpx.TransportError | None:
        if isinstance(step, Attempt):
            try:
                return self._http.request(**step.call.request_args())
            except httpx.TransportError as exc:
                return exc
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
        return None  # an Emit: `stream` hands it out (`send` runs plans that emit nothing)


class Batches(Resource[Blocking], LivyCalls):
    """Livy batches: submit, get, state, wait, logs, follow, list, kill."""


class Applications(Resource[Blocking], ApplicationCalls):
    """Native (v1) applications: submit, get, state, wait, logs, follow, list, kill."""
