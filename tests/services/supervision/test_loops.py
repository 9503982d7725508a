"""The loop base every background loop uses: bounded rounds, back-off after a failure, early wake-up."""

from __future__ import annotations

import asyncio
import logging

import pytest

from spark_gateway.domain.backoff import Backoff
from spark_gateway.services.supervision.loops import LoopService, Periodic


class Flaky(LoopService):
    """Fails its first `failures` rounds, then counts successful ones."""

    def __init__(self, failures: int) -> None:
        super().__init__("flaky", interval=0.01, backoff=Backoff(base=0.01, maximum=0.02, jitter=0.0))
        self.failures, self.ok, self.stopped = failures, 0, 0

    async def run_once(self) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("boom")
        self.ok += 1

    async def on_stop(self) -> None:
        self.stopped += 1


async def test_bounded_rounds_survive_a_failed_round_and_log_it(caplog: pytest.LogCaptureFixture) -> None:
    loop = Flaky(failures=1)
    with caplog.at_level(logging.ERROR):
        await loop.run(max_rounds=3)
    assert (loop.rounds, loop.ok, loop.stopped) == (3, 2, 1)
    assert "flaky: round failed" in caplog.text


async def test_wake_starts_the_next_round_before_the_interval() -> None:
    rounds: asyncio.Queue[int] = asyncio.Queue()
    periodic = Periodic("tick", 60.0, lambda: rounds.put_nowait(periodic.rounds))
    wake = asyncio.Event()
    task = periodic.start(wake=wake)
    assert await asyncio.wait_for(rounds.get(), 5) == 1
    wake.set()
    assert await asyncio.wait_for(rounds.get(), 5) == 2  # woken, not 60 s later
    await periodic.stop(timeout=5)
    assert task.done() and not task.cancelled()


async def test_stop_ends_the_pause_at_once() -> None:
    periodic = Periodic("idle", 60.0, lambda: None, initial_delay=60.0)
    stop = asyncio.Event()
    runner = asyncio.create_task(periodic.run(stop))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(runner, 5)
    assert periodic.rounds == 0
