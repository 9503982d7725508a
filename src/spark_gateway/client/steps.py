"""Runs a `calls.Plan` down to the few things a transport does: one HTTP attempt, a sleep, an emit.

The sans-IO half of the client (in the manner of httpx's generator-based auth flows): every Call a plan
yields is expanded here into its attempts and the waits between them (`retry_delay`), so the blocking
and the asyncio client each only perform an `Attempt` (answering with the response, or the
`httpx.TransportError` it got) and a `Sleep`, and hand `Emit`ted items to their caller.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from spark_gateway.client.calls import Call, Emit, Plan, Sleep, retry_delay
from spark_gateway.client.errors import unreachable

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """Send `call` once; answer with the `httpx.Response`, or the `httpx.TransportError` raised."""

    call: Call[Any]


#: What a transport is asked to do.
Step = Attempt | Sleep | Emit


@dataclass(frozen=True)
class RetryPolicy:
    retries: int
    backoff: float
    url: str  # for the GatewayUnreachable message


def attempts(call: Call[T], policy: RetryPolicy) -> Generator[Attempt | Sleep, Any, T]:
    """Send `call` until its answer is final: reads, deletes and keyed creates are safe to repeat."""
    attempt = 0
    while True:
        reply: httpx.Response | httpx.TransportError = yield Attempt(call)
        if isinstance(reply, httpx.TransportError):
            delay = retry_delay(attempt, None, policy.backoff)
            if attempt >= policy.retries or delay is None:
                raise unreachable(reply, policy.url) from reply
        else:
            if attempt and call.gone_is_done and reply.status_code == 404:
                return call.parse(httpx.Response(200, request=reply.request))
            delay = retry_delay(attempt, reply, policy.backoff)
            if attempt >= policy.retries or delay is None:
                return call.parse(reply)
        yield Sleep(delay)
        attempt += 1


class Stepper(Generic[T]):
    """Iterates over the steps of `plan` (a Call alone is a plan of one call); `answer` each Attempt.

    A stack of generators: a Call the plan yields pushes its `attempts`; their result (or the error
    they raise, e.g. NotFound) goes back into the plan. After the last step, `result` holds the plan's.
    """

    def __init__(self, plan: Plan[T] | Call[T], policy: RetryPolicy) -> None:
        self._policy = policy
        self._stack: list[Generator[Any, Any, Any]] = [
            attempts(plan, policy) if isinstance(plan, Call) else plan
        ]
        self._reply: Any = None
        self._error: Exception | None = None
        self.result: T

    def answer(self, reply: httpx.Response | httpx.TransportError | None) -> None:
        self._reply = reply

    def __iter__(self) -> Stepper[T]:
        return self

    def __next__(self) -> Step:
        while self._stack:
            reply, error = self._reply, self._error
            self._reply, self._error = None, None
            top = self._stack[-1]
            try:
                step: Call[Any] | Step = top.throw(error) if error else top.send(reply)
            except StopIteration as stop:
                self._stack.pop()
                self._reply = stop.value
                continue
            except Exception as exc:  # the calling plan gets it (it ends there if nothing catches it)
                self._stack.pop()
                if not self._stack:
                    raise
                self._error = exc
                continue
            if isinstance(step, Call):
                self._stack.append(attempts(step, self._policy))
                continue
            return step
        self.result = self._reply
        raise StopIteration
