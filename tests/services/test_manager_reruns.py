"""A rerun's driver logs, when the SparkManager sees the operator's states late or not at all.

The operator deletes a failed driver pod as soon as its retry is due (at once for a driver that ran
longer than `onFailureRetryInterval`) and gives the next attempt's pod the same name. So the manager
must start the failed driver's final copy the moment the watch shows the failure, not when a writer
gets to the key; must never store the next attempt's pod as the failed one's; and must say in the
stored log what it could not copy. The manager here is driven event by event (`on_event`, then
`drain_inline`), so each test decides what it saw and when; the fake API server is real HTTP.
"""

from __future__ import annotations

from typing import Any

from spark_gateway.services.manager.logs import PREFIX
from tests.backends.kubernetes.harness import wait_for
from tests.fakes.k8s_server import fake_k8s as fake_k8s  # the fixture
from tests.services.test_manager import Harness
from tests.services.test_manager import h as h  # the fixture

STARTED = [
    "26/01/01 00:00:00 INFO SparkContext: Running Spark version 4.0.0",
    "26/01/01 00:00:00 INFO SparkContext: Submitted application: {gid}",
    "26/01/01 00:00:00 INFO Utils: Successfully started service 'SparkUI' on port 4040.",
]
FAILED = ["26/01/01 00:00:00 ERROR SparkContext: Error running job.", "java.lang.Exception: boom"]
SUCCEEDED = ["26/01/01 00:00:00 INFO SparkContext: Successfully stopped SparkContext"]
RETRY = {"restartPolicy": {"type": "OnFailure", "onFailureRetries": 1}}


def started(gid: str) -> list[str]:
    return [line.format(gid=gid) for line in STARTED]


async def reach(h: Harness, gid: str, state: str) -> dict[str, Any]:
    """Let the operator run until `state`; the SparkApplication as it is then (not yet seen)."""
    await h.fake.operator.run_until("default", gid, state)
    app = await h.fake.get_app("default", gid)
    assert app is not None
    return app


async def seen(h: Harness, app: dict[str, Any]) -> None:
    """The watch delivers `app`; then the writers process what is pending."""
    await h.service.on_event("MODIFIED", app)
    h.service.mark_logs_due()
    await h.service.drain_inline()


def marker(app: dict[str, Any]) -> str:
    status = app["status"]
    return f"{PREFIX}--- driver log of submission attempt 2 ({status['submissionID']}) ---"


async def test_a_failed_attempts_last_lines_survive_a_quick_rerun(h: Harness) -> None:
    gid = await h.submit(**RETRY)
    await h.fake.operator.script("default", gid, "fail", "success")
    await h.service.drain_inline()
    failing = await reach(h, gid, "FAILING")  # the manager never saw this driver running
    await h.service.on_event("MODIFIED", failing)  # the watch shows the failure; no writer has run

    async def copied() -> bool:
        return FAILED[-1] in await h.stored_log(gid)

    await wait_for(copied, what="the failed driver's log to be copied without a writer")
    await reach(h, gid, "PENDING_RERUN")  # the failed pod is deleted
    rerun = await reach(h, gid, "RUNNING")
    await seen(h, rerun)  # the writers see the rerun only: FAILING was merged into it
    await seen(h, await reach(h, gid, "COMPLETED"))
    assert await h.stored_log(gid) == [*started(gid), *FAILED, marker(rerun), *started(gid), *SUCCEEDED]


async def test_a_late_failure_event_never_copies_the_next_attempts_pod(h: Harness) -> None:
    gid = await h.submit(**RETRY)
    await h.fake.operator.script("default", gid, "fail", "success")
    await seen(h, await reach(h, gid, "RUNNING"))  # the first driver's lines so far
    assert await h.stored_log(gid) == started(gid)
    await h.fake.operator.advance("default", gid)
    failing = await h.fake.get_app("default", gid)
    rerun = await reach(h, gid, "RUNNING")  # meanwhile: failed, deleted, and rerun under the same pod name
    await seen(h, failing)  # the watch was behind: the failure arrives after the new pod exists
    await seen(h, rerun)
    await seen(h, await reach(h, gid, "COMPLETED"))
    lost = f"{PREFIX}the driver log may lack its last lines: its pod was gone before they were copied"
    assert await h.stored_log(gid) == [*started(gid), lost, marker(rerun), *started(gid), *SUCCEEDED]


async def test_an_attempt_never_seen_is_said_in_the_log(h: Harness) -> None:
    gid = await h.submit(**RETRY)
    await h.fake.operator.script("default", gid, "fail", "success")
    await h.service.drain_inline()
    await reach(h, gid, "FAILING")
    rerun = await reach(h, gid, "RUNNING")  # the first attempt ran, failed and went unseen
    await seen(h, rerun)
    missed = (
        f"{PREFIX}the driver log of 1 earlier attempt(s) was not copied: "
        "the pods were gone before the SparkManager saw them"
    )
    assert await h.stored_log(gid) == [missed, marker(rerun), *started(gid)]
