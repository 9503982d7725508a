"""ManagerService against the fake Kubernetes API over real HTTP and a real database (SQLite and PostgreSQL).

What the SparkManager promises: every status change the operator writes reaches the database (state,
status, termination time), through allowed transitions only, even across broken watches and 410
relists; driver logs are saved before a terminal state becomes visible and stay readable after the pod
and the SparkApplication are gone; nothing is duplicated when a manager restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from spark_gateway.backends.kubernetes.k8s_api import K8sApi
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.db.models import ApplicationRow
from spark_gateway.domain.backoff import Backoff
from spark_gateway.domain.states import AppState
from spark_gateway.services.applications import KILLED_MESSAGE as GATEWAY_KILLED_MESSAGE
from spark_gateway.services.manager.service import ManagerService
from spark_gateway.services.manager.status import KILLED_MESSAGE, transition_path
from spark_gateway.settings import Settings
from tests.backends.kubernetes.harness import insert_application, wait_for
from tests.fakes.k8s_server import FakeKubernetes

pytest_plugins = ["tests.fakes.k8s_server"]

S = AppState


def manager_settings(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    cluster = {
        "name": "fake-cluster",
        "id": "c1",
        "type": "kubernetes",
        "namespaces": [{"name": "default", "id": "dflt"}],
    }
    return Settings.load(
        None,
        dataDir=str(tmp_path),
        database={"url": db_url},
        clusters=[cluster],
        sparkManager={"logCaptureSeconds": 0.05, "shutdownSeconds": 2, **overrides.pop("sparkManager", {})},
        **overrides,
    )


class Harness:
    def __init__(self, settings: Settings, fake: FakeKubernetes, db: Database, api: K8sApi) -> None:
        self.settings, self.fake, self.db, self.api = settings, fake, db, api
        self.cluster = settings.clusters[0]
        self.service = self.new_service()

    def new_service(self) -> ManagerService:
        service = ManagerService(self.settings, self.cluster, self.api, self.db)
        service.watch.backoff = Backoff(base=0.02, maximum=0.2)
        service.watch.watch_timeout_seconds = 5
        return service

    async def submit(self, **spec: Any) -> str:
        gateway_id, body = await insert_application(self.db, self.settings, self.cluster, **spec)
        await self.service.create("default", gateway_id, body)
        return gateway_id

    async def row(self, gateway_id: str) -> ApplicationRow:
        async with self.db.transaction() as session:
            row = await repo.get_application(session, gateway_id, include_deleted=True)
        assert row is not None
        return row

    async def state(self, gateway_id: str) -> AppState:
        return AppState.parse((await self.row(gateway_id)).state)

    async def wait_state(self, gateway_id: str, state: AppState, timeout: float = 10.0) -> ApplicationRow:
        async def reached() -> ApplicationRow | None:
            row = await self.row(gateway_id)
            return row if row.state == state.value else None

        return await wait_for(reached, timeout, f"{gateway_id} to reach {state.value}")

    async def stored_log(self, gateway_id: str) -> list[str]:
        async with self.db.transaction() as session:
            return await repo.read_log(session, gateway_id, offset=0, size=100_000)


def list_requests(fake: FakeKubernetes) -> int:
    return sum(
        1
        for r in fake.requests
        if r.method == "GET" and r.path.endswith("/sparkapplications") and "watch" not in r.query
    )


@pytest.fixture
async def h(
    fake_k8s: FakeKubernetes, database: Database, db_url: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    async with K8sApi.from_url(fake_k8s.url, timeout=5) as api:
        harness = Harness(manager_settings(db_url, tmp_path), fake_k8s, database, api)
        yield harness
        await harness.service.stop(timeout=2)
    fake_k8s.assert_no_rejections()


def test_transition_paths_follow_the_operator() -> None:
    assert transition_path(S.RUNNING, S.COMPLETED) == [S.COMPLETED]
    assert transition_path(S.NEW, S.RUNNING) == [S.SUBMITTED, S.RUNNING]
    assert transition_path(S.NEW, S.COMPLETED) == [S.SUBMITTED, S.COMPLETED]
    assert transition_path(S.RUNNING, S.PENDING_RERUN) in (
        [S.FAILING, S.PENDING_RERUN],
        [S.SUCCEEDING, S.PENDING_RERUN],
    )
    assert transition_path(S.SUBMITTED, S.SUBMITTED) == [S.SUBMITTED]
    assert KILLED_MESSAGE == GATEWAY_KILLED_MESSAGE  # the gateway and the manager record a kill alike


async def test_every_state_reaches_the_database_with_its_status(h: Harness) -> None:
    await h.service.start()
    gid = await h.submit()
    seen = []
    for expected in (S.SUBMITTED, S.RUNNING, S.SUCCEEDING, S.COMPLETED):
        status = await h.fake.operator.advance("default", gid)
        row = await h.wait_state(gid, expected)
        seen.append(AppState.parse(row.state))
        stored = {k: v for k, v in status.items() if k != "executorState"}
        # the operator's status exactly (minus executorState), plus when the driver first ran
        assert {k: v for k, v in row.status.items() if k != "firstRunningTime"} == stored
        assert ("firstRunningTime" in row.status) == (expected != S.SUBMITTED)
    assert seen == [S.SUBMITTED, S.RUNNING, S.SUCCEEDING, S.COMPLETED]
    assert row.spark_app_id == status["sparkApplicationId"]
    assert row.terminated_at is not None and row.status["terminationTime"] == status["terminationTime"]
    assert row.submitted_at is not None


async def test_full_driver_log_is_saved_before_the_terminal_state_shows(h: Harness) -> None:
    await h.service.start()
    gid = await h.submit()
    await h.fake.operator.script("default", gid, "fail")
    await h.fake.operator.run_until("default", gid, "RUNNING")
    await h.wait_state(gid, S.RUNNING)
    await wait_for(lambda: h.stored_log(gid), what="the running driver's log to be copied")
    await h.fake.operator.advance("default", gid)  # FAILING: the driver has ended
    row = await h.wait_state(gid, S.FAILING)
    log = await h.stored_log(gid)  # read the moment the state shows: already complete
    assert log[-1] == "java.lang.Exception: boom"
    assert "Successfully started service 'SparkUI' on port 4040." in log[2]
    assert row.error_message == "driver container failed with ExitCode: 1, Reason: Error"
    await h.fake.operator.advance("default", gid)
    row = await h.wait_state(gid, S.FAILED)
    assert row.error_message == "driver container failed with ExitCode: 1, Reason: Error"
    assert await h.stored_log(gid) == log  # nothing copied twice
    assert (row.backend_ref or {})["driverLog"]["complete"] is True


async def test_logs_outlive_the_pod_and_the_application(h: Harness) -> None:
    await h.service.start()
    gid = await h.submit()
    await h.fake.operator.run_until("default", gid, "COMPLETED")
    await h.wait_state(gid, S.COMPLETED)
    live = await h.service.driver_log("default", gid, 2)
    assert live[-1].endswith("Successfully stopped SparkContext")
    await h.fake.delete_app("default", gid)  # the pod goes with it (ownerReference)
    assert await h.fake.get_pod("default", f"{gid}-driver") is None
    assert await h.service.driver_log("default", gid, 2) == live
    assert len(await h.service.driver_log("default", gid, 100)) == 4
    await wait_for(lambda: h.service.work.queue.wait_idle(0.05), what="the deletion to be processed")
    assert await h.state(gid) == S.COMPLETED  # finished before it was deleted: stays COMPLETED


async def test_a_rerun_keeps_both_attempts_logs(h: Harness) -> None:
    await h.service.start()
    gid = await h.submit(restartPolicy={"type": "OnFailure", "onFailureRetries": 1})
    await h.fake.operator.script("default", gid, "fail", "success")
    await h.fake.operator.run_until("default", gid, "FAILING")
    await h.wait_state(gid, S.FAILING)
    await h.fake.operator.run_until("default", gid, "COMPLETED")
    row = await h.wait_state(gid, S.COMPLETED)
    log = await h.stored_log(gid)
    assert "java.lang.Exception: boom" in log
    assert any("--- driver log of submission attempt 2" in line for line in log)
    assert log[-1].endswith("Successfully stopped SparkContext")
    assert row.status["executionAttempts"] == 2 and row.error_message is None


async def test_broken_watch_catches_up_from_its_resource_version(h: Harness) -> None:
    await h.service.start()
    first, second = await h.submit(), await h.submit()
    await h.fake.operator.run_until("default", first, "RUNNING")
    await h.wait_state(first, S.RUNNING)
    await h.fake.drop_watches(abrupt=True)  # mid-stream, as a dying API server
    await h.fake.operator.advance("default", first)
    await h.fake.server_down()  # and then nothing answers for a while
    await h.fake.operator.advance("default", first)
    await h.fake.operator.run_until("default", second, "RUNNING")
    lists_before = list_requests(h.fake)
    await h.fake.server_up()
    row = await h.wait_state(first, S.COMPLETED)
    assert row.status["terminationTime"] and row.terminated_at is not None
    await h.wait_state(second, S.RUNNING)
    lists_after = list_requests(h.fake)
    resumed = [r for r in h.fake.requests if r.query.get("watch") == "true"][-1]
    assert int(resumed.query["resourceVersion"]) > 1000  # resumed, not started afresh
    assert lists_after == lists_before  # no relist was needed
    assert len(await h.stored_log(first)) == 4


async def test_410_relists_and_walks_the_states_it_missed(h: Harness) -> None:
    await h.service.start()
    done, deleted, waiting = await h.submit(), await h.submit(), await h.submit()
    await h.fake.operator.run_until("default", deleted, "RUNNING")
    await h.wait_state(deleted, S.RUNNING)
    await h.fake.server_down()
    await h.fake.operator.run_until("default", done, "COMPLETED")  # NEW -> ... -> COMPLETED unseen
    await h.fake.delete_app("default", deleted)  # deleted while nobody watched
    await h.fake.compact()  # and the history is gone: the watch gets 410 Expired
    await h.fake.server_up()
    row = await h.wait_state(done, S.COMPLETED)
    status = await h.fake.get_app("default", done)
    assert status is not None
    assert row.status["terminationTime"] == status["status"]["terminationTime"]
    assert row.submitted_at is not None  # SUBMITTED was walked through on the way
    assert len(await h.stored_log(done)) == 4  # the pod was still there: its log was saved
    gone = await h.wait_state(deleted, S.FAILED)
    assert gone.error_message == "the SparkApplication was deleted from the cluster"
    assert (await h.stored_log(deleted))[
        -1
    ] == "spark-gateway: the SparkApplication was deleted from the cluster"
    assert await h.state(waiting) == S.NEW
    assert h.service.watch.rounds >= 3  # watch, 410, list, watch


async def test_delete_through_the_api_is_recorded_as_a_kill(h: Harness) -> None:
    await h.service.start()
    gid = await h.submit()
    await h.fake.operator.run_until("default", gid, "RUNNING")
    await h.wait_state(gid, S.RUNNING)
    await h.service.delete("default", gid)
    row = await h.wait_state(gid, S.FAILED)
    assert row.error_message == KILLED_MESSAGE
    assert (await h.stored_log(gid))[-1] == f"spark-gateway: {KILLED_MESSAGE}"


async def test_a_restarted_manager_neither_loses_nor_duplicates(h: Harness) -> None:
    await h.service.start()
    gid = await h.submit()
    pod = ("default", f"{gid}-driver")
    await h.fake.operator.run_until("default", gid, "RUNNING")
    await wait_for(lambda: h.stored_log(gid), what="the log copy")
    await h.service.stop()
    copied = await h.stored_log(gid)
    await h.fake.set_log(*pod, [*copied, "line a", "line b"])  # the driver goes on while no one copies
    await h.fake.operator.run_until("default", gid, "COMPLETED")
    h.service = h.new_service()
    await h.service.run_once()  # bounded: one list, then every pending key inline
    assert await h.state(gid) == S.COMPLETED
    full = await h.fake.call(lambda: list(h.fake.logs[pod]))
    assert len(full) == len(copied) + 3
    assert await h.stored_log(gid) == full  # each line once, none lost


async def test_relist_does_not_fail_an_application_created_meanwhile(h: Harness) -> None:
    gid = await h.submit()  # in the cache, and in the cluster
    await h.service.on_snapshot([])  # a list that ran before the create answered
    await h.service.drain_inline()
    assert await h.state(gid) == S.NEW  # asked the API server before declaring it gone
    assert ("default", gid) in h.service.cache


class TcpProxy:
    """Forwards a local port to PostgreSQL; `down()` cuts every connection and refuses new ones."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_database_outage_neither_blocks_the_api_nor_loses_a_change(
    fake_k8s: FakeKubernetes, database: Database, db_url: str, tmp_path: Path
) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.up()
    through_proxy = Database(url.set(port=proxy.port).render_as_string(hide_password=False))
    settings = manager_settings(db_url, tmp_path)
    async with K8sApi.from_url(fake_k8s.url, timeout=5) as api:
        h = Harness(settings, fake_k8s, database, api)  # rows and checks: straight to the database
        h.service = ManagerService(settings, h.cluster, api, through_proxy)  # the manager: via the proxy
        h.service.watch.backoff = Backoff(base=0.02, maximum=0.2)
        await h.service.start()
        first = await h.submit()
        await h.fake.operator.run_until("default", first, "RUNNING")
        await h.wait_state(first, S.RUNNING)
        await proxy.down()
        await h.fake.operator.run_until("default", first, "COMPLETED")
        second, body = await insert_application(database, settings, h.cluster)
        created = await asyncio.wait_for(h.service.create("default", second, body), 2)  # API unaffected
        assert created["metadata"]["name"] == second
        await h.fake.operator.run_until("default", second, "RUNNING")
        await wait_for(lambda: asyncio.sleep(0, h.service.work.errors > 0), what="failed writes")
        assert await h.state(first) == S.RUNNING  # nothing could be written meanwhile
        await proxy.up()
        row = await h.wait_state(first, S.COMPLETED, timeout=30)
        assert row.terminated_at is not None and len(await h.stored_log(first)) == 4
        await h.wait_state(second, S.RUNNING, timeout=30)
        await h.service.stop(timeout=2)
    await through_proxy.dispose()
    await proxy.down()
    fake_k8s.assert_no_rejections()
