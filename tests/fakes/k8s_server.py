"""A fake Kubernetes API server for the SparkManager's Kubernetes edge: real HTTP, real API semantics.

There is no cluster in tests, and mocking our own client would test nothing, so this serves the few API
paths the SparkManager uses with the API server's behaviour: SparkApplications validated against the
real CRD (422 Invalid, recorded in `rejected`), status stripped on create, 409/404 `Status` bodies,
label selectors, one global resourceVersion, watches with history, bookmarks and 410 Expired after a
compaction, pod logs with `container`/`tailLines`, and a simulated spark-operator (`fake.operator`).

uvicorn runs in a background thread on its own event loop, so async tests, sync tests and separate
processes can all use it. All state lives on that loop: test code calls the async helpers below, which
hop onto it. State and rules: `k8s_store.py`; HTTP: `k8s_http.py`; the operator: `spark_operator.py`.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml

from tests.fakes.k8s_http import FakeApiServer, RecordedRequest
from tests.fakes.spark_operator import FakeSparkOperator

__all__ = ["FakeKubernetes", "RecordedRequest", "fake_k8s", "fake_kubeconfig", "sample_app"]


class FakeKubernetes(FakeApiServer):
    """The store plus its HTTP server and the simulated operator; see the module docstring."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.operator = FakeSparkOperator(self)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._serve_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Lifecycle (sync: for fixtures) ------------------------------------------------------------------

    def start(self) -> FakeKubernetes:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-k8s", daemon=True)
        self._thread.start()
        self.call_sync(self._start_http)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self.call_sync(self.operator.cancel_ticker)
        self.call_sync(self._stop_http)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    # Running code on the server's loop ---------------------------------------------------------------

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` (sync or async) on the server's loop and return its result."""
        assert self._loop is not None, "fake Kubernetes server is not started"
        if asyncio.get_running_loop() is self._loop:
            return await self._invoke(fn, *args)
        future = asyncio.run_coroutine_threadsafe(self._invoke(fn, *args), self._loop)
        return await asyncio.wrap_future(future)

    def call_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Like `call`, for code that is not async (never from the server's own loop)."""
        assert self._loop is not None, "fake Kubernetes server is not started"
        return asyncio.run_coroutine_threadsafe(self._invoke(fn, *args), self._loop).result(timeout=30)

    @staticmethod
    async def _invoke(fn: Callable[..., Any], *args: Any) -> Any:
        result = fn(*args)
        return await result if inspect.isawaitable(result) else result

    # HTTP server -------------------------------------------------------------------------------------

    async def _start_http(self) -> None:
        # IPPROTO_TCP explicitly: only then does asyncio set TCP_NODELAY (no ~40 ms Nagle delays).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.asgi,
            log_config=None,
            lifespan="off",
            http="h11",
            interface="asgi3",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._serve_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(1000):
            if self._server.started or self._serve_task.done():
                break
            await asyncio.sleep(0.005)
        if not self._server.started:
            raise RuntimeError("fake Kubernetes server did not start")

    async def _stop_http(self) -> None:
        if self._server is None or self._serve_task is None:
            return
        self.break_watches()
        self._server.should_exit = True
        await self._serve_task
        self._server = self._serve_task = None

    # Test controls (async, from any loop) --------------------------------------------------------------

    async def server_down(self) -> None:
        """Stop listening (connections are refused, open watches break); the state is kept."""
        await self.call(self._stop_http)

    async def server_up(self) -> None:
        """Listen again on the same port."""
        await self.call(self._start_http)

    async def get_app(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.call(lambda: copy.deepcopy(self.apps.get((namespace, name))))

    async def all_apps(self) -> list[dict[str, Any]]:
        return await self.call(lambda: [copy.deepcopy(obj) for _, obj in sorted(self.apps.items())])

    async def set_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        """Write a status as the operator would (`/status`): validated, new resourceVersion, MODIFIED."""
        return await self.call(self.write_status, (namespace, name), status)

    async def delete_app(self, namespace: str, name: str) -> None:
        await self.call(self.remove_app, (namespace, name))

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.call(lambda: copy.deepcopy(self.pods.get((namespace, name))))

    async def delete_pod(self, namespace: str, name: str) -> None:
        await self.call(self.remove_pod, (namespace, name))

    async def set_log(self, namespace: str, pod: str, lines: list[str]) -> None:
        await self.call(self.logs.__setitem__, (namespace, pod), list(lines))

    async def compact(self) -> None:
        """Forget the watch history: a watch from any earlier resourceVersion now gets 410 Expired."""
        await self.call(self.compact_history)

    async def drop_watches(self, *, abrupt: bool = True) -> None:
        """Break open watch streams mid-stream (`abrupt`) or end them cleanly as a server timeout does."""
        await self.call(self.break_watches, abrupt)

    async def fail_requests(self, count: int, code: int = 503) -> None:
        """Answer the next `count` requests with an error Status of this code."""
        await self.call(self.inject_failures, count, code)

    async def lose_create_answers(self, count: int = 1) -> None:
        """The next `count` creates are stored, then answered 504 Timeout (the client cannot tell)."""
        await self.call(setattr, self, "lost_creates", count)

    async def wait_for_watchers(self, count: int = 1, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.watchers) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"expected {count} open watches, have {len(self.watchers)}")
            await asyncio.sleep(0.01)

    def assert_no_rejections(self) -> None:
        assert not self.rejected, f"the fake API server rejected: {[msg for _, msg in self.rejected]}"

    def write_kubeconfig(
        self, path: Path, *, context: str = "fake-cluster", token: str = "fake-token"
    ) -> Path:
        """A kubeconfig whose context `context` points at this server with a bearer token."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        }
        path.write_text(yaml.safe_dump(config))
        return path


def apps_url(fake: FakeKubernetes, namespace: str = "default") -> str:
    """The URL of one namespace's SparkApplications on `fake`."""
    return f"{fake.url}/apis/sparkoperator.k8s.io/v1beta2/namespaces/{namespace}/sparkapplications"


def sample_app(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    """A minimal valid SparkApplication; `spec` keys override or extend the spec."""
    body = {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"spark-gateway/managed-by": "spark-gateway"},
        },
        "spec": {
            "type": "Python",
            "mode": "cluster",
            "sparkVersion": "4.0.0",
            "mainApplicationFile": "local:///opt/spark/examples/src/main/python/pi.py",
            "driver": {"cores": 1, "memory": "512m"},
            "executor": {"cores": 1, "instances": 1, "memory": "512m"},
        },
    }
    body["spec"].update(spec)
    return body


@pytest.fixture
def fake_k8s() -> Iterator[FakeKubernetes]:
    """A running fake API server (fresh per test); `fake_k8s.operator` drives applications."""
    fake = FakeKubernetes().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_kubeconfig(fake_k8s: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubeconfig for `fake_k8s` with context `fake-cluster`, exported as KUBECONFIG."""
    path = fake_k8s.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path
