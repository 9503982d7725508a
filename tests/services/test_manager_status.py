"""One batch of a status writer stores each kind of change as it would be stored alone.

The SparkManager writes up to a hundred changes in one transaction (one locking read, one UPDATE for
the batch). A batch mixes what the cluster shows: a running application's status-only change, a jump
through states the watch never showed, an application that ended (a webhook outbox event, its end
time), a driver that failed (its log copied completely first, the error kept), and applications whose
stored status is already the cluster's (not rewritten). A restarted manager catches up with all of
them at once, which is what this test does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from spark_gateway.db import repository as repo
from spark_gateway.db.models import WebhookEventRow
from spark_gateway.domain.states import AppState
from spark_gateway.services.transitions import RUNNING_TIME_KEY
from tests.fakes.k8s_server import fake_k8s as fake_k8s  # the fixture
from tests.services.test_manager import Harness
from tests.services.test_manager import h as h  # the fixture
from tests.services.test_manager_reruns import FAILED, SUCCEEDED, reach, started

S = AppState


def operators(status: dict[str, Any]) -> dict[str, Any]:
    """What the manager stores of an operator's status (all of it but executorState)."""
    return {k: v for k, v in status.items() if k != "executorState"}


async def final_events(h: Harness) -> list[tuple[str, str]]:
    async with h.db.transaction() as session:
        rows = await session.execute(select(WebhookEventRow.gateway_id, WebhookEventRow.state))
        return sorted((gid, state) for gid, state in rows.all())


async def test_one_batch_of_mixed_changes_stores_each_as_alone(h: Harness) -> None:
    names = ("port", "same", "ends", "walks", "fails", "done")
    gid = {name: await h.submit() for name in names}
    await h.fake.operator.script("default", gid["fails"], "fail")
    for name in ("port", "same", "ends", "fails"):
        await h.service.on_event("MODIFIED", await reach(h, gid[name], "RUNNING"))
    await h.service.on_event("MODIFIED", await reach(h, gid["done"], "COMPLETED"))
    await h.service.drain_inline()
    await h.service.stop()
    before = {name: await h.row(gid[name]) for name in names}
    assert before["walks"].state == S.NEW.value and before["done"].state == S.COMPLETED.value

    # While no manager watched: a status-only change, an end, a jump from New, a failed driver.
    port = dict((await h.fake.get_app("default", gid["port"]) or {})["status"])
    port["driverInfo"] = {**port["driverInfo"], "webUIPort": 4041}
    await h.fake.set_status("default", gid["port"], port)
    ends = (await reach(h, gid["ends"], "COMPLETED"))["status"]
    walks = (await reach(h, gid["walks"], "RUNNING"))["status"]
    fails = (await reach(h, gid["fails"], "FAILING"))["status"]

    h.service = h.new_service()
    batches: list[list[str]] = []
    observed_many = h.service.status.observed_many

    async def recorded(observed: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        batches.append(sorted(g for g, _ in observed))
        return await observed_many(observed)

    h.service.status.observed_many = recorded  # type: ignore[method-assign]
    await h.service.run_once()  # one list: every application in one batch
    assert batches == [sorted(gid.values())]
    row = {name: await h.row(gid[name]) for name in names}

    # Stored already: not rewritten.
    for name in ("same", "done"):
        assert row[name].updated_at == before[name].updated_at, name
    # A status-only change: the operator's status, the first running time kept.
    assert row["port"].state == S.RUNNING.value and row["port"].updated_at > before["port"].updated_at
    first_ran = before["port"].status[RUNNING_TIME_KEY]
    assert row["port"].status == {**operators(port), RUNNING_TIME_KEY: first_ran}
    # Ended: its end time, its first running time, one outbox event.
    assert row["ends"].state == S.COMPLETED.value
    assert row["ends"].status == {
        **operators(ends),
        RUNNING_TIME_KEY: before["ends"].status[RUNNING_TIME_KEY],
    }
    ended = datetime.fromisoformat(ends["terminationTime"].replace("Z", "+00:00"))
    assert (
        row["ends"].terminated_at is not None and row["ends"].terminated_at.timestamp() == ended.timestamp()
    )
    assert await h.stored_log(gid["ends"]) == [*started(gid["ends"]), *SUCCEEDED]
    # From New to RUNNING through SUBMITTED: submitted and first running times, the Spark app id.
    assert row["walks"].state == S.RUNNING.value and row["walks"].submitted_at is not None
    assert row["walks"].status == {
        **operators(walks),
        RUNNING_TIME_KEY: row["walks"].status[RUNNING_TIME_KEY],
    }
    assert row["walks"].spark_app_id == walks["sparkApplicationId"]
    # A failed driver: its error, and its whole log copied before the state shows.
    assert row["fails"].state == S.FAILING.value
    assert row["fails"].error_message == fails["applicationState"]["errorMessage"]
    assert await h.stored_log(gid["fails"]) == [*started(gid["fails"]), *FAILED]
    assert row["fails"].backend_ref["driverLog"]["complete"] is True
    assert row["fails"].terminated_at is None

    assert await final_events(h) == sorted([(gid["done"], "COMPLETED"), (gid["ends"], "COMPLETED")])
    async with h.db.transaction() as session:
        counts = {state: live for _, state, live in await repo.count_by_cluster_and_state(session) if live}
    assert counts == {"RUNNING": 3, "COMPLETED": 2, "FAILING": 1}
