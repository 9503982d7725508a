"""A keyed work queue (as client-go's workqueue) and the workers that drain it.

Why: the SparkManager's watch must hand status changes to database writers without waiting for them,
while one application's updates must never be written out of order. Marking a key (not enqueueing an
event) gives both: each key is pending at most once and never processed by two workers at the same
time; a key changed again while a worker holds it is queued once more when that worker is done, and
the worker then reads the newest state. A failed key comes back after an exponential backoff: always
when the failure is transient (the database or the cluster is unavailable), at most a few times else.
A worker takes up to `batch` ready keys at once (their writes then share one transaction); a failed
batch is retried key by key. `KeyedLocks` keeps two queues (status writes, log copies) off one key at once.
`Pace` spaces a queue's work to at most so many operations a second, whatever its number of workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from spark_gateway.domain.backoff import Backoff
from spark_gateway.domain.errors import GatewayError
from spark_gateway.services.supervision.tasks import cancel_all, spawn

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class KeyedQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._has_ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._short = asyncio.Event()  # set while at most `short` keys are pending
        self._short.set()
        self.short = 0
        self._timers: set[asyncio.TimerHandle] = set()

    def add(self, key: K) -> None:
        """Mark `key` for processing (a no-op when it is already pending)."""
        if key in self._dirty:
            return
        self._dirty.add(key)
        self._idle.clear()
        if len(self._dirty) + len(self._processing) > self.short:
            self._short.clear()
        if key not in self._processing:
            self._ready.append(key)
            self._has_ready.set()

    def add_later(self, key: K, delay: float) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            self.add(key)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)

    def _take(self) -> K:
        key = self._ready.popleft()
        if not self._ready:
            self._has_ready.clear()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    async def get(self) -> K:
        """The next key; the caller must call `done(key)` when it has finished with it."""
        while not self._ready:
            await self._has_ready.wait()
        return self._take()

    def get_nowait(self) -> K | None:
        return self._take() if self._ready else None

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:  # changed while it was being processed: once more
            self._ready.append(key)
            self._has_ready.set()
        elif not self._dirty and not self._processing:
            self._idle.set()
        if len(self._dirty) + len(self._processing) <= self.short:
            self._short.set()

    async def wait_short(self) -> None:
        """Until at most `short` keys are pending or being processed (a key both counts twice)."""
        await self._short.wait()

    def pending(self) -> int:
        return len(self._dirty | self._processing)

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """True once nothing is pending or being processed (scheduled retries do not count)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._idle.is_set()

    def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()


class KeyedLocks(Generic[K]):
    """One lock per key, held only while in use (memory follows the keys being worked on, not all)."""

    def __init__(self) -> None:
        self._locks: dict[K, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class Pace:
    """At most `rate` operations a second, spaced evenly (0: no limit); shared by all the workers that
    `take` from it. An operation that comes after a pause starts at once; nothing accumulates."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate, self._clock, self._sleep = rate, clock, sleep
        self._next = float("-inf")  # when the next operation may start

    async def take(self) -> None:
        """Wait for the next operation's turn."""
        if self.rate <= 0:
            return
        now = self._clock()
        start = max(now, self._next)
        self._next = start + 1.0 / self.rate  # claimed before waiting: concurrent takers queue up
        if start > now:
            await self._sleep(start - now)


class KeyedWorkers(Generic[K]):
    """`count` workers running `process(key)` for keys marked with `add`; failures retried."""

    def __init__(
        self,
        process: Callable[[list[K]], Awaitable[None]],
        *,
        transient: Callable[[BaseException], bool],
        name: str,
        count: int = 4,
        max_failures: int = 5,
        batch: int = 1,
    ) -> None:
        self.process, self.transient, self.name, self.count = process, transient, name, count
        self.batch = batch  # keys a worker takes at once when that many are ready
        self.max_failures = max_failures  # for failures that are not transient
        self.queue: KeyedQueue[K] = KeyedQueue()
        self.failures: dict[K, int] = {}  # consecutive, per key (in backoff while present)
        self.errors = 0  # all failures so far
        self.backoff = Backoff(base=0.2, maximum=30.0)
        self._tasks: list[asyncio.Task[Any]] = []

    def add(self, key: K) -> None:
        self.queue.add(key)

    async def handle_many(self, keys: list[K]) -> None:
        """Process keys taken off the queue together; if that fails, each one alone (so one bad key
        only fails itself)."""
        if len(keys) == 1:
            await self.handle(keys[0])
            return
        try:
            await self.process(keys)
        except asyncio.CancelledError:
            for key in keys:
                self.queue.done(key)
            raise
        except Exception as exc:
            text = exc.message if isinstance(exc, GatewayError) else repr(exc)
            log.info("%s: a batch of %d failed (%s); one at a time", self.name, len(keys), text)
            for key in keys:
                await self.handle(key)
            return
        for key in keys:
            self.failures.pop(key, None)
            self.queue.done(key)

    def _take_more(self, first: K) -> list[K]:
        keys = [first]
        while len(keys) < self.batch and (key := self.queue.get_nowait()) is not None:
            keys.append(key)
        return keys

    async def handle(self, key: K) -> None:
        """Process one key taken off the queue; on failure schedule its retry."""
        try:
            await self.process([key])
            self.failures.pop(key, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors += 1
            failures = self.failures[key] = self.failures.get(key, 0) + 1
            if not self.transient(exc) and failures > self.max_failures:
                log.error("%s: giving up on %s after %d failures", self.name, key, failures, exc_info=exc)
                self.failures.pop(key, None)
                return
            delay = self.backoff.delay(failures)
            text = exc.message if isinstance(exc, GatewayError) else repr(exc)
            log.warning("%s: %s failed (%s); retrying in %.1fs", self.name, key, text, delay)
            self.queue.add_later(key, delay)
        finally:
            self.queue.done(key)

    async def _worker(self) -> None:
        while True:
            await self.handle_many(self._take_more(await self.queue.get()))

    async def drain_inline(self) -> None:
        """Bounded mode: process every pending key in the caller's task."""
        while (key := self.queue.get_nowait()) is not None:
            await self.handle_many(self._take_more(key))

    def start(self) -> None:
        self._tasks = [spawn(self._worker(), name=f"{self.name}:{i}") for i in range(self.count)]

    async def stop(self, timeout: float) -> None:
        """Give pending keys `timeout` seconds, then cancel the workers and scheduled retries."""
        if not await self.queue.wait_idle(timeout):
            log.warning("%s: %d keys were still pending at shutdown", self.name, self.queue.pending())
        self.queue.close()
        await cancel_all(self._tasks)
        self._tasks = []
