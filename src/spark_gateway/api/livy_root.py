"""`livy.rootPaths`: the Livy API at the root as well (`/batches`, `/sessions`, `/version`).

Apache Livy serves its API at the root, so a client configured for Livy (sparkmagic, pylivy, Airflow's
Livy operator) then works by changing only the host name. The request is rewritten to its `/api/livy`
path before anything else sees it, so authentication, audit, CSRF and error shapes (`{"msg"}`) treat
both spellings the same; a `Location` header is given back in the spelling the client used.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LIVY_PREFIX = "/api/livy"
ROOT_PATHS = ("/batches", "/sessions")
ROOT_EXACT = frozenset({"/version"})


def served_at_root(path: str) -> bool:
    return path in ROOT_EXACT or any(path == p or path.startswith(p + "/") for p in ROOT_PATHS)


class LivyRootPaths:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root: str = scope.get("root_path", "") or ""
        path: str = scope["path"]
        inner = path[len(root) :] if root and path.startswith(root) else path
        if not served_at_root(inner):
            await self.app(scope, receive, send)
            return
        rewritten = root + LIVY_PREFIX + inner
        scope = {**scope, "path": rewritten, "raw_path": rewritten.encode("latin-1")}

        async def send_root_location(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, v[len(LIVY_PREFIX) :] if k == b"location" and v.startswith(b"/api/livy/") else v)
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_root_location)
