"""Exceptions the client raises: every refused request carries the HTTP status and the gateway's message.

Scripts catch one base class (`GatewayError`) or the specific case they handle (`NotFound`, ...);
the CLI turns them into one-line messages instead of tracebacks.
"""

from __future__ import annotations

from typing import Any

import httpx


class GatewayError(Exception):
    """A request the gateway refused (`status` set) or could not be sent at all (`status` None)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body

    def __str__(self) -> str:
        return self.message if self.status is None else f"{self.message} (HTTP {self.status})"


class BadRequest(GatewayError):
    pass


class Unauthorized(GatewayError):
    pass


class Forbidden(GatewayError):
    pass


class NotFound(GatewayError):
    pass


class Conflict(GatewayError):
    pass


class Unavailable(GatewayError):
    """503 (database down, no cluster ready) or a gateway that answered 502/504 through a proxy."""


class GatewayUnreachable(GatewayError):
    """No HTTP answer at all: connection refused, DNS failure, timeout."""


class WaitTimeout(TimeoutError):
    """`wait()` gave up before the application ended; `state` is the last state seen."""

    def __init__(self, what: str, state: str, timeout: float) -> None:
        super().__init__(f"{what} still {state or 'new'} after {timeout:g} s")
        self.state = state


_BY_STATUS: dict[int, type[GatewayError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


def error_from_response(response: httpx.Response) -> GatewayError:
    """The exception for a non-2xx answer, with the message from `{"msg"}` (Livy) or `{"error"}` (v1)."""
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = response.text
    message = None
    if isinstance(body, dict):
        message = body.get("msg") or body.get("error") or body.get("detail")
    if not isinstance(message, str) or not message:
        message = (body if isinstance(body, str) and body else response.reason_phrase) or "request failed"
    cls = _BY_STATUS.get(response.status_code, GatewayError)
    return cls(message.strip()[:1000], response.status_code, body)


def unreachable(exc: httpx.TransportError, url: str) -> GatewayUnreachable:
    reason = str(exc) or type(exc).__name__
    return GatewayUnreachable(f"cannot reach the gateway at {url}: {reason}")
