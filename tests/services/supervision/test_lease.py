"""Leases on both databases: the statements, the guard's timing, fencing, and at most one holder at a
time among contenders in one process (separate processes: test_lease_processes.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from spark_gateway.backends.base import StatusUpdate
from spark_gateway.db import migrate
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.domain.errors import ConfigError
from spark_gateway.domain.states import AppState
from spark_gateway.services.gateway import build_runtime
from spark_gateway.services.supervision.background import BackgroundWork, FencedSink, lease_name
from spark_gateway.services.supervision.lease import LeaseGuard, LeaseLost, LeaseTerm
from spark_gateway.settings import Settings
from tests.db.test_repository import make_row
from tests.services.supervision.leases import RENEW, TTL, held, until


async def test_acquire_renew_release_are_conditional_and_tokens_grow(database: Database) -> None:
    assert await held(database, repo.acquire_lease, "l", "a", 0.5) == 1
    assert await held(database, repo.acquire_lease, "l", "b", 0.5) is None  # a holds it
    assert await held(database, repo.renew_lease, "l", "a", 1, 0.5)
    assert not await held(database, repo.renew_lease, "l", "b", 1, 0.5)
    await asyncio.sleep(0.6)
    assert not await held(database, repo.renew_lease, "l", "a", 1, 0.5)  # expired: renewal refused
    assert await held(database, repo.acquire_lease, "l", "b", 5) == 2
    assert not await held(database, repo.lease_is_held, "l", "a", 1)
    assert await held(database, repo.lease_is_held, "l", "b", 2)
    assert not await held(database, repo.release_lease, "l", "a", 1)  # not a's to release
    assert await held(database, repo.release_lease, "l", "b", 2)
    assert await held(database, repo.acquire_lease, "l", "a", 5) == 3  # released: free at once
    state = await held(database, repo.get_lease, "l")
    assert state.holder == "a" and state.fencing_token == 3 and 4 < state.seconds_left <= 5


def test_renew_interval_must_leave_room_before_expiry() -> None:
    async def work(term: LeaseTerm) -> None: ...

    with pytest.raises(ConfigError, match="renewIntervalSeconds"):
        LeaseGuard(None, "l", work, holder="a", ttl=1.0, renew_interval=0.9)  # type: ignore[arg-type]


class Partitionable(Database):
    """A database connection that the test can cut: transactions then hang (or fail)."""

    cut: str | None = None  # None, "hang" or "fail"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        if self.cut == "hang":
            await asyncio.Event().wait()
        if self.cut == "fail":
            raise ConnectionRefusedError(111, "Connect call failed (cut by the test)")
        async with super().transaction() as session:
            yield session


class Recorder:
    """Guarded work that notices two holders at once: `overlaps` counts starts while another works."""

    def __init__(self) -> None:
        self.active: set[str] = set()
        self.overlaps = 0
        self.starts: list[tuple[float, str, int]] = []
        self.ends: dict[tuple[str, int], float] = {}

    def work(self, who: str) -> Callable[[LeaseTerm], Any]:
        async def run(term: LeaseTerm) -> None:
            if self.active:
                self.overlaps += 1
            self.active.add(who)
            self.starts.append((time.monotonic(), who, term.token))
            try:
                await term.stop.wait()
            finally:
                self.active.discard(who)
                self.ends[(who, term.token)] = time.monotonic()

        return run


async def test_holder_stops_its_work_before_the_lease_can_expire(db_url: str) -> None:
    db = Partitionable(db_url)
    await migrate.upgrade(db)
    recorder = Recorder()
    guard = LeaseGuard(db, "l", recorder.work("a"), holder="a", ttl=TTL, renew_interval=RENEW)
    stop = asyncio.Event()
    runner = asyncio.create_task(guard.run(stop))
    try:
        await until(lambda: guard.holding, "the lease")
        await asyncio.sleep(0.3)
        db.cut = "hang"  # renewals now never answer
        cut_at = time.monotonic()
        await until(lambda: not recorder.active, "the work to stop")
        stopped_after = time.monotonic() - cut_at
        other = Database(db_url)
        state = await held(other, repo.get_lease, "l")
        await other.dispose()
        # Stopped at ttl - margin after the last successful renewal, while the lease is still valid.
        assert stopped_after <= TTL * 0.8 + 0.1
        assert state.seconds_left > 0.05, "work stopped only after the lease could be taken over"
    finally:
        db.cut = None
        stop.set()
        await runner
        await db.dispose()


async def test_contenders_in_one_process_never_overlap_and_take_over_promptly(db_url: str) -> None:
    """Four guards; the holder is cut off from the database again and again (hanging or failing)."""
    dbs = [Partitionable(db_url) for _ in range(4)]
    await migrate.upgrade(dbs[0])
    recorder = Recorder()
    guards = [
        LeaseGuard(db, "l", recorder.work(f"g{i}"), holder=f"g{i}", ttl=TTL, renew_interval=RENEW)
        for i, db in enumerate(dbs)
    ]
    stop = asyncio.Event()
    runners = [asyncio.create_task(g.run(stop)) for g in guards]
    takeovers: list[float] = []
    try:
        for round_ in range(4):
            await until(lambda: len(recorder.active) == 1, "a holder")
            holder = int(next(iter(recorder.active))[1:])
            for db in dbs:
                db.cut = None
            dbs[holder].cut = "hang" if round_ % 2 else "fail"
            cut_at, before = time.monotonic(), len(recorder.starts)
            await until(lambda: len(recorder.starts) > before, "a takeover")  # noqa: B023
            takeovers.append(recorder.starts[-1][0] - cut_at)
        # A graceful stop releases the lease: the successor starts within about one acquire interval.
        for db in dbs:
            db.cut = None
        await until(lambda: len(recorder.active) == 1, "a holder")
        holder = int(next(iter(recorder.active))[1:])
        before = len(recorder.starts)
        released_at = time.monotonic()
        await guards[holder].shutdown()
        await until(lambda: len(recorder.starts) > before, "the successor")
        handover = recorder.starts[-1][0] - released_at
    finally:
        for db in dbs:
            db.cut = None
        stop.set()
        await asyncio.gather(*runners)
        for db in dbs:
            await db.dispose()
    assert recorder.overlaps == 0
    tokens = [token for _, _, token in recorder.starts]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
    assert all(t < TTL + RENEW + 0.3 for t in takeovers), takeovers
    assert handover < RENEW + 0.3, handover


async def test_crashed_work_is_restarted_while_the_lease_is_held(database: Database) -> None:
    calls: list[int] = []

    async def flaky(term: LeaseTerm) -> None:
        calls.append(term.token)
        if len(calls) == 1:
            raise RuntimeError("supervisor crashed")
        await term.stop.wait()

    guard = LeaseGuard(database, "l", flaky, holder="a", ttl=2.0, renew_interval=0.5)
    for _ in range(200):  # the bounded mode: the test drives the rounds
        await asyncio.sleep(min(await guard.step(), 0.05))
        if len(calls) == 2:
            break
    assert calls == [1, 1]  # restarted within the same term, no new acquisition
    assert guard.holding
    await guard.shutdown()
    assert (await held(database, repo.get_lease, "l")).seconds_left <= 0.01  # released


async def test_fenced_sink_refuses_writes_once_the_lease_moved(database: Database) -> None:
    async with database.transaction() as session:
        await repo.insert_application(session, make_row("app1"))
    token = await held(database, repo.acquire_lease, "l", "a", 0.3)
    sink = FencedSink(database, LeaseTerm("l", "a", token, 1), keep=100)
    await sink.update(StatusUpdate("app1", AppState.SUBMITTED))
    await sink.append_logs("app1", ["first line"])
    await asyncio.sleep(0.4)
    assert await held(database, repo.acquire_lease, "l", "b", 5) == token + 1
    with pytest.raises(LeaseLost):
        await sink.update(StatusUpdate("app1", AppState.FAILED, error_message="stale holder"))
    with pytest.raises(LeaseLost):
        await sink.append_logs("app1", ["stale line"])
    assert sink.refused == 2
    async with database.transaction() as session:
        row = await repo.get_application(session, "app1")
        lines = await repo.read_log(session, "app1", offset=0, size=10)
    assert row is not None and row.state == "SUBMITTED"
    assert lines == ["first line"]


async def test_background_work_supervises_in_exactly_one_process(db_url: str, tmp_path: Path) -> None:
    settings = Settings.load(
        None,
        dataDir=str(tmp_path),
        database={"url": db_url},
        lease={"ttlSeconds": TTL, "renewIntervalSeconds": RENEW},
        webhooks={"enable": False},  # its own lease is tested in tests/e2e/test_webhooks.py
    )
    runtimes = [build_runtime(settings) for _ in range(2)]
    await migrate.upgrade(runtimes[0].db)
    works = [BackgroundWork(rt, holder=f"w{i}") for i, rt in enumerate(runtimes)]
    for work in works:
        await work.start()
    try:
        await until(lambda: sum(bool(w.holding()) for w in works) == 1, "one holder")
        first = next(i for i, w in enumerate(works) if w.holding())
        assert works[first].holding() == [lease_name("local")]
        assert works[1 - first].holding() == []
        await works[first].stop()  # graceful: releases, the other takes over within a second
        started = time.monotonic()
        while not works[1 - first].holding():
            assert time.monotonic() - started < 1.5
            await asyncio.sleep(0.02)
        state = await held(runtimes[0].db, repo.get_lease, lease_name("local"))
        assert state.holder == f"w{1 - first}" and state.fencing_token == 2
    finally:
        for work in works:
            await work.stop()
        for rt in runtimes:
            await rt.close()
    assert all(sink.refused == 0 for w in works for sink in w.sinks)


async def test_a_later_term_starts_from_a_fresh_backend(database: Database, tmp_path: Path) -> None:
    """What one term's backend knew (log offsets, reported states) may be stale after a gap."""
    settings = Settings.load(
        None,
        dataDir=str(tmp_path),
        database={"url": str(database.url.render_as_string(hide_password=False))},
        lease={"ttlSeconds": TTL, "renewIntervalSeconds": RENEW},
    )
    rt = build_runtime(settings, db=database)
    work = BackgroundWork(rt, holder="w")
    guard = work.guards[0]
    first_backend = rt.backends["local"]
    try:
        await guard.step()
        assert guard.holding and guard.term is not None and guard.term.number == 1
        await until(lambda: bool(work.sinks), "the first term's supervisor")
        assert rt.backends["local"] is first_backend
        await guard._lose("the test says so")
        await guard.step()
        assert guard.term is not None and guard.term.number == 2 and guard.term.token == 2
        await until(lambda: len(work.sinks) == 2, "the second term's supervisor")
        assert rt.backends["local"] is not first_backend
    finally:
        await guard.shutdown()
        for backend in rt.backends.values():
            await backend.close()
