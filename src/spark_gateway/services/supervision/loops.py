"""The one shape of every background loop in the services: work done in rounds until stopped.

As Prefect's `LoopService`: a subclass says what one round does (`run_once`); the base runs rounds every
`interval` seconds (sooner when `wake` is set) until `stop` is set, logs a failed round and backs off,
and lets cancellation through. `run(max_rounds=n)` ends after n rounds, so tests drive a loop
deterministically instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from spark_gateway.domain.backoff import Backoff
from spark_gateway.services.supervision.tasks import cancel_all, spawn

log = logging.getLogger(__name__)


class LoopService:
    """Rounds of `run_once` until stopped; subclasses implement `run_once`."""

    def __init__(
        self,
        name: str,
        interval: float,
        *,
        initial_delay: float = 0.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.interval = interval
        self.initial_delay = initial_delay  # before the first round
        # After a failed round: `interval`, doubling up to 5 s (an outage is noticed soon after it ends).
        self.backoff = backoff or Backoff(base=interval, maximum=max(5.0, interval))
        self.rounds = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None

    async def run_once(self) -> float | None:
        """One round; returns the seconds until the next one is due (None: `interval`)."""
        raise NotImplementedError

    def wake_on(self) -> set[asyncio.Task[Any]]:
        """Tasks whose end also ends the pause between rounds (none by default)."""
        return set()

    async def on_stop(self) -> None:
        """Called once when `run` ends, however it ends (release what the rounds held)."""

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        max_rounds: int | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        """Rounds until `stop` (or `self.stop()`) is set, or `max_rounds` rounds have run."""
        stop = stop or self._stop
        done = 0
        try:
            if self.initial_delay > 0 and max_rounds is None:
                await self._pause(stop, wake, self.initial_delay)
            while not stop.is_set() and not self._stop.is_set() and (max_rounds is None or done < max_rounds):
                done += 1
                self.rounds += 1
                if wake is not None:
                    wake.clear()
                try:
                    delay = await self.run_once()
                except Exception:
                    delay = self.backoff.next()
                    log.exception("%s: round failed; next round in %.1fs", self.name, delay)
                else:
                    self.backoff.reset()
                if max_rounds is None or done < max_rounds:
                    await self._pause(stop, wake, self.interval if delay is None else delay)
        finally:
            await self.on_stop()

    async def _pause(self, stop: asyncio.Event, wake: asyncio.Event | None, delay: float) -> None:
        """Sleep `delay` seconds, waking early when stopped or woken."""
        events = [stop, self._stop, *([wake] if wake is not None else [])]
        waiters = [asyncio.create_task(event.wait(), name=f"{self.name}:pause") for event in events]
        try:
            await asyncio.wait(
                {*waiters, *self.wake_on()}, timeout=delay, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    def start(
        self, stop: asyncio.Event | None = None, *, wake: asyncio.Event | None = None
    ) -> asyncio.Task[Any]:
        """Run as a background task named after the loop."""
        self._stop.clear()
        self._task = spawn(self.run(stop, wake=wake), name=self.name)
        return self._task

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end after its current round; cancel it if it does not within `timeout`."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        _done, pending = await asyncio.wait({task}, timeout=timeout)
        if pending:
            log.warning("%s did not stop within %.0fs; cancelling it", self.name, timeout)
            await cancel_all(list(pending))


class Periodic(LoopService):
    """Call `action` (a function or a coroutine function) every `interval` seconds."""

    def __init__(
        self,
        name: str,
        interval: float,
        action: Callable[[], Awaitable[object] | None],
        *,
        initial_delay: float = 0.0,
    ) -> None:
        super().__init__(name, interval, initial_delay=initial_delay)
        self.action = action

    async def run_once(self) -> None:
        result = self.action()
        if result is not None:
            await result
