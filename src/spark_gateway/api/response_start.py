"""Middlewares that edit the headers of HTTP responses share this: HTTP-only dispatch and a wrapped `send`.

Both `livy_root` (gives a `Location` back in the client's spelling) and `security.response_headers` (adds
Livy's security headers) change nothing but the `http.response.start` message; this module holds that
plumbing once. (`response_headers` edits the raw header list itself: it runs on every response.)
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMiddleware:
    """Hands non-HTTP scopes (websocket, lifespan) through untouched; HTTP ones go to `handle`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def editing_headers(send: Send, edit: Callable[[MutableHeaders], None]) -> Send:
    """`send`, with `edit` applied to the response's headers before they go out."""

    async def send_edited(message: Message) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            edit(MutableHeaders(scope=message))
        await send(message)

    return send_edited
