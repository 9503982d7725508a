"""How `client.batches` and `client.applications` perform the operations `calls` builds, for both clients.

Each method of `calls.LivyCalls` and `calls.ApplicationCalls` is decorated with `@sends` (one call or
plan) or `@streams.of(item)` (a plan that emits items). On a plain calls object the method builds its
`Call` or `Plan`; on a `Resource` (the client's `batches` and `applications`, declared as
`class Batches(Resource[Blocking], LivyCalls)`) the same method, with the same signature and docstring,
hands what it builds to the client. What that returns depends on the client: the result for the
blocking one, a coroutine (or an async iterator) for the asyncio one. The type checker learns which
from the resource's mode (`Blocking`, `Awaiting`); at run time the client's own `send` and `stream` decide.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from spark_gateway.client.calls import Call, Plan

P = ParamSpec("P")
T = TypeVar("T")
ModeT = TypeVar("ModeT")


class Blocking:
    """The mode of the blocking client's resources: a call returns its result."""


class Awaiting:
    """The mode of the asyncio client's resources: a call returns a coroutine, a stream an async iterator."""


class Client(Protocol):
    def send(self, call: Call[Any] | Plan[Any]) -> Any: ...

    def stream(self, plan: Plan[None]) -> Any: ...


class Resource(Generic[ModeT]):
    """Performs what `calls` (a plain calls object) builds, through `client` (a `SparkGatewayClient` or
    its asyncio twin). Its operations are those of the calls class it is declared with."""

    def __init__(self, client: Client, calls: Any) -> None:
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

    def _bind(self, resource: object, owner: type) -> Any:
        if resource is None:
            return self
        if not isinstance(resource, Resource):  # a plain calls object: the method builds
            return self._build.__get__(resource, owner)
        return self._method(resource)

    def _method(self, resource: Resource[Any]) -> Callable[..., Any]:
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
    def __get__(self, resource: Resource[Blocking], owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, resource: Resource[Awaiting], owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, resource: object, owner: type) -> Callable[P, Any]: ...  # a plain calls object
    def __get__(self, resource: object, owner: type) -> Any:
        return self._bind(resource, owner)


class streams(_Operation[P], Generic[P, T]):
    """A method that performs a plan, yielding the `item`s it emits as they come."""

    emits = True

    def __init__(self, build: Callable[Concatenate[Any, P], Plan[None]], item: type[T]) -> None:
        super().__init__(build)

    @classmethod
    def of(cls, item: type[T]) -> Callable[[Callable[Concatenate[Any, P], Plan[None]]], streams[P, T]]:
        """The decorator for a plan that emits `item`s."""
        return lambda build: cls(build, item)

    @overload
    def __get__(self, resource: None, owner: type) -> streams[P, T]: ...
    @overload
    def __get__(self, resource: Resource[Blocking], owner: type) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, resource: Resource[Awaiting], owner: type) -> Callable[P, AsyncIterator[T]]: ...
    @overload
    def __get__(self, resource: object, owner: type) -> Callable[P, Any]: ...  # a plain calls object
    def __get__(self, resource: object, owner: type) -> Any:
        return self._bind(resource, owner)
