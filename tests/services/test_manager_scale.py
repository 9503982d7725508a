"""What keeps a SparkManager up to date with thousands of live applications (figures: bench/manager_bench.py).

Status writes never wait behind the periodic copies of running drivers' logs (those have workers of
their own, and every running application gets one each round); the copies are paced to
`logCopiesPerSecond`, whatever the number of running drivers; a running application without a driver
pod, or whose driver printed nothing new, costs a round no write; and a restarted manager, relisting
every live application, rewrites none whose stored status is already the cluster's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from spark_gateway.backends.kubernetes.k8s_api import K8sApi
from spark_gateway.db.engine import Database
from spark_gateway.domain.states import AppState
from spark_gateway.services.manager.queue import Pace
from tests.backends.kubernetes.harness import wait_for
from tests.fakes.k8s_server import FakeKubernetes
from tests.fakes.k8s_server import fake_k8s as fake_k8s  # the fixture
from tests.services.test_manager import Harness, manager_settings

S = AppState


@pytest.fixture
async def h(
    fake_k8s: FakeKubernetes, database: Database, db_url: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    """Two status writers and one log copier, copying running drivers' logs every 50 ms."""
    settings = manager_settings(db_url, tmp_path, sparkManager={"statusWorkers": 2, "logWorkers": 1})
    async with K8sApi.from_url(fake_k8s.url, timeout=5) as api:
        harness = Harness(settings, fake_k8s, database, api)
        yield harness
        await fake_k8s.release_logs()
        await harness.service.stop(timeout=2)
    fake_k8s.assert_no_rejections()


async def test_status_changes_are_written_while_log_copies_hang(h: Harness) -> None:
    await h.service.start()
    running = [await h.submit() for _ in range(3)]  # more than the status writers
    for gid in running:
        await h.fake.operator.run_until("default", gid, "RUNNING")
        await h.wait_state(gid, S.RUNNING)
    await h.fake.hold_logs()  # every log read now hangs, as on a kubelet that does not answer
    await wait_for(lambda: h.fake.call(lambda: h.fake.held_log_reads or None), what="a log copy to hang")
    late = await h.submit()
    for expected in (S.SUBMITTED, S.RUNNING):
        await h.fake.operator.advance("default", late)
        await h.wait_state(late, expected)
    await h.fake.release_logs()
    await wait_for(lambda: h.stored_log(running[0]), what="the held copies to finish")


async def test_a_running_application_without_a_pod_costs_no_write(h: Harness) -> None:
    await h.service.start()
    gid = await h.submit()
    status = {
        "applicationState": {"state": "RUNNING"},
        "submissionID": "s-1",
        "sparkApplicationId": "spark-1",
        "driverInfo": {"podName": f"{gid}-driver"},
    }
    await h.fake.set_status("default", gid, status)  # no operator: no driver pod
    await h.wait_state(gid, S.RUNNING)

    async def rounds(count: int) -> None:
        def done() -> bool | None:
            return sum(1 for r in h.fake.requests if r.path.endswith(f"/pods/{gid}-driver")) >= count or None

        await wait_for(lambda: h.fake.call(done), what=f"{count} log rounds")

    await rounds(2)  # the first round records which submission it looks at
    first = await h.row(gid)
    await rounds(5)
    row = await h.row(gid)
    assert (row.updated_at, row.backend_ref) == (first.updated_at, first.backend_ref)


async def test_a_restarted_manager_rewrites_no_unchanged_row(h: Harness) -> None:
    await h.service.start()
    gids = [await h.submit() for _ in range(3)]
    for gid in gids[:2]:
        await h.fake.operator.run_until("default", gid, "RUNNING")
        await h.wait_state(gid, S.RUNNING)
    await h.service.stop()
    before = {gid: (await h.row(gid)).updated_at for gid in gids}
    h.service = h.new_service()
    await h.service.run_once()  # one list, then every application inline
    assert {gid: (await h.row(gid)).updated_at for gid in gids} == before
    assert h.service.status.writes == 0
    await h.fake.operator.advance("default", gids[2])  # a real change is still written
    h.service.watch.request_relist()
    await h.service.run_once()
    assert await h.state(gids[2]) == S.SUBMITTED
    assert h.service.status.writes == 1


class FakeTime:
    """A clock that moves only when asked to sleep (or told to), and the waits it was asked for."""

    def __init__(self) -> None:
        self.now, self.waits = 100.0, list[float]()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))


async def test_a_pace_spaces_operations_and_saves_no_burst() -> None:
    time = FakeTime()
    pace = Pace(10, clock=time.clock, sleep=time.sleep)
    for _ in range(3):  # three workers at the same moment: the first at once, then one per 0.1 s
        await pace.take()
    assert time.waits == [0.1, 0.2]
    time.now += 60  # a long pause earns no burst afterwards
    for _ in range(2):
        await pace.take()
    assert time.waits == [0.1, 0.2, 0.1]
    unlimited = Pace(0, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        await unlimited.take()
    assert len(time.waits) == 3


async def test_a_round_of_log_copies_is_paced_and_quiet_drivers_cost_no_write(h: Harness) -> None:
    gids = [await h.submit() for _ in range(3)]
    for gid in gids:
        await h.fake.operator.run_until("default", gid, "RUNNING")
    await h.service.run_once()
    h.service.mark_logs_due()  # a round, bounded: every running driver once
    await h.service.log_work.drain_inline()  # the first copies store each driver's first lines
    assert all([await h.stored_log(gid) for gid in gids])
    time = FakeTime()
    h.service.log_pace = Pace(4, clock=time.clock, sleep=time.sleep)
    stores, rows = h.service.logs.stores, [await h.row(gid) for gid in gids]

    h.service.mark_logs_due()
    await h.service.log_work.drain_inline()
    assert time.waits == [0.25, 0.5]  # 3 copies at 4 a second
    assert h.service.logs.stores == stores  # nothing new printed: nothing written
    assert [(r.updated_at, r.backend_ref) for r in rows] == [
        ((row := await h.row(gid)).updated_at, row.backend_ref) for gid in gids
    ]

    pod = ("default", f"{gids[1]}-driver")
    printed = [*(await h.fake.call(lambda: list(h.fake.logs[pod]))), "INFO Executor: one more line"]
    await h.fake.set_log(*pod, printed)
    h.service.mark_logs_due()
    await h.service.log_work.drain_inline()
    assert h.service.logs.stores == stores + 1  # only the driver that printed
    assert (await h.stored_log(gids[1]))[-1] == "INFO Executor: one more line"


class CountingPace(Pace):
    def __init__(self) -> None:
        super().__init__(0)
        self.takes = 0

    async def take(self) -> None:
        self.takes += 1
        await super().take()


async def test_no_log_copy_starts_while_status_writes_are_behind(h: Harness) -> None:
    gid = await h.submit()
    await h.fake.operator.run_until("default", gid, "RUNNING")
    await h.service.run_once()
    h.service.log_pace = pace = CountingPace()
    reads = await h.fake.call(lambda: len(h.fake.log_requests))
    for i in range(101):  # more changes waiting than one batch takes
        h.service.work.add(("default", f"not-ours-{i}"))
    h.service.mark_logs_due()
    copies = asyncio.create_task(h.service.log_work.drain_inline())
    for _ in range(50):
        await asyncio.sleep(0)
    assert (copies.done(), pace.takes) == (False, 0)  # the copy waits before it even takes its turn
    await h.service.work.drain_inline()  # the status writes catch up
    await copies
    assert pace.takes == 1
    assert await h.fake.call(lambda: len(h.fake.log_requests)) == reads + 1
