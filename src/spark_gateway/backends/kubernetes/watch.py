"""Follow every SparkApplication the gateway owns, across disconnects, the way kopf and informers do.

The SparkManager learns about status changes only from this loop, so it must never lose one: it lists
(and hands the full list to `on_snapshot`, so the caller can notice objects deleted while nobody was
watching), then watches from the list's resourceVersion. A broken or refused connection is retried from
the last resourceVersion seen, with bounded, jittered exponential backoff; a 410 Expired means that
version is gone, so it lists again. Callbacks are awaited one at a time; an exception in one is logged
and the loop goes on. `run(max_rounds=...)` bounds it for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from spark_gateway.backends.kubernetes.k8s_api import K8sApi, ResourceVersionExpired
from spark_gateway.domain.backoff import Backoff

log = logging.getLogger(__name__)

EventHandler = Callable[[str, dict[str, Any]], Awaitable[None]]
SnapshotHandler = Callable[[list[dict[str, Any]]], Awaitable[None]]


class SparkAppWatch:
    """List-then-watch over SparkApplications in one namespace or all (`namespace=None`)."""

    def __init__(
        self,
        api: K8sApi,
        *,
        on_event: EventHandler,
        on_snapshot: SnapshotHandler,
        namespace: str | None = None,
        label_selector: str | None = None,
        backoff: Backoff | None = None,
        watch_timeout_seconds: int = 300,
        min_watch_seconds: float = 1.0,
        name: str = "spark-app-watch",
    ) -> None:
        self.api = api
        self.on_event = on_event
        self.on_snapshot = on_snapshot
        self.namespace = namespace
        self.label_selector = label_selector
        self.backoff = backoff or Backoff()
        self.watch_timeout_seconds = watch_timeout_seconds
        # A watch that ends this fast without a single event counts as a failure (no hot loop).
        self.min_watch_seconds = min_watch_seconds
        self.name = name
        self.resource_version: str | None = None  # None: the next round lists
        self.rounds = 0
        self.failures = 0  # consecutive
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Run until `stop()` as an asyncio task named `self.name`."""
        if self._task is None or self._task.done():
            self._stop.clear()
            self._task = asyncio.create_task(self.run(), name=self.name)
        return self._task

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def request_relist(self) -> None:
        """List again at the next round (e.g. for a periodic resync)."""
        self.resource_version = None

    async def run(self, *, max_rounds: int | None = None) -> None:
        """Rounds until stopped; a round is one list, or one watch connection until it ends or breaks."""
        done, loop = 0, asyncio.get_running_loop()
        while not self._stop.is_set() and (max_rounds is None or done < max_rounds):
            done += 1
            self.rounds += 1
            started = loop.time()
            try:
                if self.resource_version is None:
                    await self._list()
                    self.failures = 0
                elif await self._watch():
                    self.failures = 0
                else:
                    await self._fail("the watch ended at once without any event")
            except ResourceVersionExpired as exc:
                log.info(
                    "%s: resourceVersion %s expired (%s); listing again",
                    self.name,
                    self.resource_version,
                    exc,
                )
                self.resource_version = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if loop.time() - started >= self.min_watch_seconds:
                    self.failures = 0  # it worked for a while: start the backoff afresh
                await self._fail(str(exc) or repr(exc))

    async def _list(self) -> None:
        listed = await self.api.list_apps(self.namespace, self.label_selector)
        await self._call(self.on_snapshot, listed.items)
        self.resource_version = listed.resource_version or None

    async def _watch(self) -> bool:
        """Follow one watch connection; False if it ended too fast to count as working."""
        assert self.resource_version is not None
        loop = asyncio.get_running_loop()
        started, events = loop.time(), 0
        stream = self.api.watch_apps(
            self.resource_version,
            namespace=self.namespace,
            label_selector=self.label_selector,
            timeout_seconds=self.watch_timeout_seconds,
        )
        async with contextlib.aclosing(stream):
            async for event_type, obj in stream:
                events += 1
                self.failures = 0
                if event_type != "BOOKMARK":
                    await self._call(self.on_event, event_type, obj)
                version = (obj.get("metadata") or {}).get("resourceVersion")
                if version:
                    self.resource_version = str(version)
        return events > 0 or loop.time() - started >= self.min_watch_seconds

    async def _fail(self, reason: str) -> None:
        self.failures += 1
        delay = self.backoff.delay(self.failures)
        log.warning("%s: %s; retrying in %.2fs (failure %d)", self.name, reason, delay, self.failures)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)

    async def _call(self, callback: Callable[..., Awaitable[None]], *args: Any) -> None:
        try:
            await callback(*args)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: callback %s failed; the watch goes on", self.name, callback)
