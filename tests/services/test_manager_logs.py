"""The SparkManager's driver log copy reads only what is new, with bounded memory, whatever the driver
prints: a driver printing tens of megabytes is copied in rounds, each line stored once, in order."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from tests.fakes.k8s_server import fake_k8s as fake_k8s  # the fixture
from tests.services.test_manager import Harness
from tests.services.test_manager import h as h  # the fixture

LOG_LINES = 100_000  # ~12 MB of driver log


def noisy_lines(start: int, count: int) -> list[str]:
    return [f"INFO Executor: task {i:07d} finished: {'x' * 80}" for i in range(start, start + count)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # memory does not depend on the database
async def test_a_driver_printing_megabytes_is_copied_incrementally_in_bounded_memory(h: Harness) -> None:
    gid = await h.submit()
    await h.fake.operator.run_until("default", gid, "RUNNING")
    await h.service.run_once()  # the manager sees it running (and copies the first lines)
    pod = ("default", f"{gid}-driver")
    started = await h.fake.call(lambda: list(h.fake.logs[pod]))
    await h.fake.set_log(*pod, [*started, *noisy_lines(0, LOG_LINES)])
    app = await h.api.get_app("default", gid)
    size = sum(len(line) + 1 for line in noisy_lines(0, LOG_LINES))
    h.service.logs.round_bytes = size // 4  # the copy needs several rounds
    assert await h.api.pod_log(*pod, tail_lines=1)  # the fake stamps its lines before measuring

    tracemalloc.start()
    try:
        rounds, deadline = 0, time.monotonic() + 60
        while not await h.service.logs.copy(gid, app, final=False) and rounds < 10:
            rounds += 1
            progress = (await h.row(gid)).backend_ref["driverLog"]
            if progress["lines"] == len(started) + LOG_LINES:
                break
            assert time.monotonic() < deadline
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rounds >= 3  # bounded rounds, not one read of everything
    assert peak < size // 2, f"peak {peak} bytes while copying a {size}-byte log"
    stored = await h.stored_log(gid)
    assert (
        stored[-h.settings.retention.log_lines :]
        == [*started, *noisy_lines(0, LOG_LINES)][-h.settings.retention.log_lines :]
    )

    # Later rounds read from the last copied line's second, not from the start.
    await h.fake.set_log(*pod, [*started, *noisy_lines(0, LOG_LINES + 3)])
    before = len(h.fake.log_requests)
    await h.fake.operator.run_until("default", gid, "COMPLETED")
    done = await h.api.get_app("default", gid)
    assert await h.service.logs.copy(gid, done, final=True)
    assert all("sinceTime" in r for r in h.fake.log_requests[before:])
    stored = await h.stored_log(gid)
    assert stored[-4:] == [*noisy_lines(LOG_LINES, 3), stored[-1]]
    assert len(stored) == len(set(stored))  # no line twice
