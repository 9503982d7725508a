"""The polled single-object reads (a batch, its state, a page of its log; an application, its status),
dispatched straight to their route functions.

Clients poll these, and each is one indexed statement on the database (`db.point_reads`): what is left
of a request's cost is the framework around it. FastAPI matches a path twice (its router, then the
included router), solves the route's parameters, and enters three more middlewares, which together cost
more CPU than the read itself. This middleware sits right inside the security chain (authentication,
audit, CSRF, body limits and security headers all still apply) and hands a GET whose path is one of
these routes to the very function FastAPI would have called, with the same `Request`; its response goes
out unchanged.

Anything it is not sure of goes the normal way: another method, a mount prefix (`root_path`), FastAPI's
own telemetry, a `/log` query that is not plain `from`/`size` integers (FastAPI then validates it and
answers a bad value with its 400). An exception is answered by the handler the app registered for it
(`api.errors`), exactly as FastAPI's exception middleware would, or propagates to the server-error
handler when none is registered for it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from spark_gateway.api import applications, livy

Endpoint = Callable[[Request, str, Mapping[str, int]], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]

# A `/log` query FastAPI would read as these integers, with nothing to validate or to ignore.
_LOG_PARAM = re.compile(r"(from|size)=(-?[0-9]{1,18})")
_LOG_PARAMS = {"from": "from_", "size": "size"}


async def _batch(request: Request, ref: str, _: Mapping[str, int]) -> Response:
    return await livy.get_batch(ref, request)


async def _batch_state(request: Request, ref: str, _: Mapping[str, int]) -> Response:
    return await livy.batch_state(ref, request)


async def _batch_log(request: Request, ref: str, params: Mapping[str, int]) -> Response:
    return await livy.batch_log(ref, request, from_=params.get("from_"), size=params.get("size", 100))


async def _application(request: Request, ref: str, _: Mapping[str, int]) -> Response:
    return await applications.get_application(ref, request)


async def _application_status(request: Request, ref: str, _: Mapping[str, int]) -> Response:
    return await applications.application_status(ref, request)


@dataclass(frozen=True)
class PointRoute:
    pattern: re.Pattern[str]
    endpoint: Endpoint
    takes_query: bool = False


LIVY_ROUTES = (
    PointRoute(re.compile(r"/api/livy/batches/([^/]+)"), _batch),
    PointRoute(re.compile(r"/api/livy/batches/([^/]+)/state"), _batch_state),
    PointRoute(re.compile(r"/api/livy/batches/([^/]+)/log"), _batch_log, takes_query=True),
)
APPLICATION_ROUTES = (
    PointRoute(re.compile(r"/api/v1/applications/([^/]+)"), _application),
    PointRoute(re.compile(r"/api/v1/applications/([^/]+)/status"), _application_status),
)


def log_query(query: bytes) -> dict[str, int] | None:
    """`from` and `size` of a plain query (each at most once, ASCII integers); None for any other."""
    params: dict[str, int] = {}
    if not query:
        return params
    for part in query.decode("latin-1").split("&"):
        match = _LOG_PARAM.fullmatch(part)
        if match is None:
            return None
        name = _LOG_PARAMS[match[1]]
        if name in params:
            return None
        params[name] = int(match[2])
    return params


class PointReadRoutes:
    def __init__(self, app: ASGIApp, *, livy_enabled: bool) -> None:
        self.app = app
        self.routes = (LIVY_ROUTES if livy_enabled else ()) + APPLICATION_ROUTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._match(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        endpoint, ref, params = found
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request, ref, params)
        except Exception as exc:
            handler = _handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _match(self, scope: Scope) -> tuple[Endpoint, str, Mapping[str, int]] | None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope.get("root_path")
            or "fastapi.telemetry" in scope
        ):
            return None
        path: str = scope["path"]
        if not path.startswith("/api/"):
            return None
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            params = log_query(scope.get("query_string", b"")) if route.takes_query else {}
            return None if params is None else (route.endpoint, match[1], params)
        return None


def _handler_for(handlers: Mapping[object, ExceptionHandler], exc: Exception) -> ExceptionHandler | None:
    """The handler FastAPI's exception middleware would pick: by status code for an HTTPException, then
    by class (the catch-all `Exception` handler belongs to the server-error middleware, not to it)."""
    if isinstance(exc, HTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None
