"""A keyed work queue (as client-go's workqueue): each key is pending at most once and is never
processed by two workers at the same time.

Why: the SparkManager's watch must hand status changes to database writers without waiting for them,
while one application's updates must never be written out of order. Marking a key (not enqueueing an
event) gives both: a key changed again while a worker holds it is queued once more when that worker is
done, and the worker then reads the newest object. Retries come back after a delay (`add_later`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class KeyedQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._has_ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._timers: set[asyncio.TimerHandle] = set()

    def add(self, key: K) -> None:
        """Mark `key` for processing (a no-op when it is already pending)."""
        if key in self._dirty:
            return
        self._dirty.add(key)
        self._idle.clear()
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

    def pending(self) -> int:
        return len(self._dirty | self._processing)

    def waiting_retries(self) -> int:
        return len(self._timers)

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """True once nothing is pending or being processed (scheduled retries do not count)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._idle.is_set()

    def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
