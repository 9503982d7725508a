"""`client.batches` and `client.applications`, written once for the blocking and the asyncio client.

A resource method only builds a `calls.Call` or `calls.Plan` and hands it to its client, so each one is
an entry of a call table: `get = sends(LivyCalls.get)` takes the signature and docstring of the
`LivyCalls` method. What the call returns depends on the client: the result for the blocking one, a
coroutine for the asyncio one. The type checker learns which from the mode a resource is declared with
(`Batches[Blocking]`, `Batches[Awaiting]`); at run time the client's own `send` and `stream` decide.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from spark_gateway.client.calls import ApplicationCalls, Call, LivyCalls, Plan
from spark_gateway.client.models import Batch

P = ParamSpec("P")
T = TypeVar("T")
ModeT = TypeVar("ModeT")
CallsT = TypeVar("CallsT")


class Blocking:
    """The mode of the blocking client's resources: a call returns its result."""


class Awaiting:
    """The mode of the asyncio client's resources: a call returns a coroutine, a stream an async iterator."""


class Client(Protocol):
    def send(self, call: Call[Any] | Plan[Any]) -> Any: ...

    def stream(self, plan: Plan[None]) -> Any: ...


class Resource(Generic[ModeT, CallsT]):
    """Performs what `calls` builds, through `client` (a `SparkGatewayClient` or its asyncio twin)."""

    def __init__(self, client: Client, calls: CallsT) -> None:
        self._client = client
        self._calls = calls


class _Operation(Generic[P]):
    """A method of a resource, made from the `calls` method that builds its request or plan."""

    emits = False  # the plan emits items, which the client's `stream` hands out as they come

    def __init__(self, build: Callable[..., Any]) -> None:
        self._build = build
        self.__doc__ = build.__doc__
        signature = inspect.signature(build)
        self._signature = signature.replace(  # the `calls` method's, without its `self`
            parameters=list(signature.parameters.values())[1:], return_annotation=inspect.Signature.empty
        )

    def _method(self, resource: Resource[Any, Any]) -> Callable[..., Any]:
        method = self._perform(resource._client, resource._calls)
        method.__name__ = self._build.__name__
        method.__qualname__ = f"{type(resource).__qualname__}.{self._build.__name__}"
        method.__doc__ = self.__doc__
        method.__signature__ = self._signature  # type: ignore[attr-defined]
        return method

    def _perform(self, client: Client, calls: Any) -> Callable[..., Any]:
        build = self._build
        if self.emits:
            return lambda *args, **kwargs: client.stream(build(calls, *args, **kwargs))
        if inspect.iscoroutinefunction(client.send):

            async def awaited(*args: Any, **kwargs: Any) -> Any:
                return await client.send(build(calls, *args, **kwargs))

            return awaited
        return lambda *args, **kwargs: client.send(build(calls, *args, **kwargs))


class sends(_Operation[P], Generic[P, T]):
    """A method that sends one call or plan: `Batch` for the blocking client, awaited for the asyncio one."""

    def __init__(self, build: Callable[Concatenate[Any, P], Call[T] | Plan[T]]) -> None:
        super().__init__(build)

    @overload
    def __get__(self, resource: None, owner: type) -> sends[P, T]: ...
    @overload
    def __get__(self, resource: Resource[Blocking, Any], owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, resource: Resource[Awaiting, Any], owner: type
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, resource: Resource[Any, Any] | None, owner: type) -> Any:
        return self if resource is None else self._method(resource)


class streams(_Operation[P], Generic[P, T]):
    """A method that performs a plan, yielding the `item`s it emits as they come."""

    emits = True

    def __init__(self, build: Callable[Concatenate[Any, P], Plan[None]], item: type[T]) -> None:
        super().__init__(build)

    @overload
    def __get__(self, resource: None, owner: type) -> streams[P, T]: ...
    @overload
    def __get__(self, resource: Resource[Blocking, Any], owner: type) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, resource: Resource[Awaiting, Any], owner: type) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, resource: Resource[Any, Any] | None, owner: type) -> Any:
        return self if resource is None else self._method(resource)


class Batches(Resource[ModeT, LivyCalls]):
    """Livy batches: submit, get, state, wait, logs, follow, list, kill."""

    submit = sends(LivyCalls.submit)
    get = sends(LivyCalls.get)
    state = sends(LivyCalls.state)
    logs = sends(LivyCalls.logs)
    list = sends(LivyCalls.list)
    iter_all = streams(LivyCalls.iter_all, Batch)
    kill = sends(LivyCalls.kill)
    wait = sends(LivyCalls.wait)
    follow = streams(LivyCalls.follow, str)


class Applications(Resource[ModeT, ApplicationCalls]):
    """Native (v1) applications: submit, get, state, wait, logs, follow, list, kill."""

    submit = sends(ApplicationCalls.submit)
    get = sends(ApplicationCalls.get)
    state = sends(ApplicationCalls.state)
    logs = sends(ApplicationCalls.logs)
    list = sends(ApplicationCalls.list)
    kill = sends(ApplicationCalls.kill)
    wait = sends(ApplicationCalls.wait)
    follow = streams(ApplicationCalls.follow, str)
