"""`livy.rootPaths`: the Livy API at the root as well (`/batches`, `/sessions`, `/version`).

Apache Livy serves its API at the root, so a client configured for Livy (sparkmagic, pylivy, Airflow's
Livy operator) then works by changing only the host name. The request is rewritten to its `/api/livy`
path before anything else sees it, so authentication, audit, CSRF and error shapes (`{"msg"}`) treat
both spellings the same; a `Location` header is given back in the spelling the client used.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Receive, Scope, Send

from spark_gateway.api.response_start import HttpMiddleware, editing_headers

LIVY_PREFIX = "/api/livy"
ROOT_PATHS = ("/batches", "/sessions")
ROOT_EXACT = frozenset({"/version"})


def served_at_root(path: str) -> bool:
    return path in ROOT_EXACT or any(path == p or path.startswith(p + "/") for p in ROOT_PATHS)


class LivyRootPaths(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        root: str = scope.get("root_path", "") or ""
        path: str = scope["path"]
        inner = path[len(root) :] if root and path.startswith(root) else path
        if not served_at_root(inner):
            await self.app(scope, receive, send)
            return
        rewritten = root + LIVY_PREFIX + inner
        scope = {**scope, "path": rewritten, "raw_path": rewritten.encode("latin-1")}
        await self.app(scope, receive, editing_headers(send, root_location))


def root_location(headers: MutableHeaders) -> None:
    location = headers.get("location")
    if location is not None and location.startswith(LIVY_PREFIX + "/"):
        headers["location"] = location[len(LIVY_PREFIX) :]
