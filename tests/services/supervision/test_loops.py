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
    calls: list[float] = []
    loop = asyncio.get_running_loop()
    periodic = Periodic("tick", 60.0, lambda: calls.append(loop.time()))
    wake = asyncio.Event()
    task = periodic.start(wake=wake)
    await asyncio.wait_for(_until(lambda: len(calls) == 1), 5)
    wake.set()
    await asyncio.wait_for(_until(lambda: len(calls) == 2), 5)  # not 60 s later
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


async def _until(condition) -> None:  # type: ignore[no-untyped-def]
    while not condition():
        await asyncio.sleep(0.01)
