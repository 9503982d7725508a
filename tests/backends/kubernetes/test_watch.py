"""SparkAppWatch against the fake API server: it must end up where the server is, whatever breaks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from spark_gateway.backends.kubernetes.k8s_api import K8sApi
from spark_gateway.backends.kubernetes.watch import SparkAppWatch
from spark_gateway.domain.backoff import Backoff
from tests.fakes.k8s_server import FakeKubernetes, sample_app

pytest_plugins = ["tests.fakes.k8s_server"]

SELECTOR = "spark-gateway/managed-by=spark-gateway"
ALL_STATES = ["", "SUBMITTED", "RUNNING", "SUCCEEDING", "COMPLETED"]


def state(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("applicationState", {}).get("state", ""))


class Recorder:
    """What the SparkManager would keep: the latest object per name, and every state it saw."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.seen: dict[str, list[str]] = {}
        self.snapshots = 0

    def _note(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        self.objects[name] = obj
        if not self.seen.setdefault(name, []) or self.seen[name][-1] != state(obj):
            self.seen[name].append(state(obj))

    async def on_event(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self.objects.pop(obj["metadata"]["name"], None)
        else:
            self._note(obj)

    async def on_snapshot(self, items: list[dict[str, Any]]) -> None:
        self.snapshots += 1
        self.objects = {}
        for obj in items:
            self._note(obj)

    def states(self) -> dict[str, str]:
        return {name: state(obj) for name, obj in self.objects.items()}


async def server_states(fake: FakeKubernetes) -> dict[str, str]:
    return {obj["metadata"]["name"]: state(obj) for obj in await fake.all_apps()}


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if await check() if asyncio.iscoroutinefunction(check) else check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def converged(fake: FakeKubernetes, recorder: Recorder) -> None:
    async def same() -> bool:
        return recorder.states() == await server_states(fake)

    await eventually(same)


@pytest.fixture
async def api(fake_k8s: FakeKubernetes) -> AsyncIterator[K8sApi]:
    async with K8sApi.from_url(fake_k8s.url, timeout=5) as client:
        yield client


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def watch(api: K8sApi, recorder: Recorder) -> AsyncIterator[SparkAppWatch]:
    watcher = SparkAppWatch(
        api,
        on_event=recorder.on_event,
        on_snapshot=recorder.on_snapshot,
        label_selector=SELECTOR,
        backoff=Backoff(base=0.2, maximum=0.4, jitter=0.1),
        name="spark-app-watch[test]",
    )
    yield watcher
    await watcher.stop()


async def create(fake: FakeKubernetes, name: str, namespace: str = "default") -> None:
    await fake.call(fake.create_app, namespace, sample_app(name, namespace=namespace))


async def test_lists_then_follows_every_change(
    fake_k8s: FakeKubernetes, watch: SparkAppWatch, recorder: Recorder
) -> None:
    await create(fake_k8s, "a")
    unrelated = sample_app("not-ours")
    unrelated["metadata"]["labels"] = {}
    await fake_k8s.call(fake_k8s.create_app, "default", unrelated)
    task = watch.start()
    assert task.get_name() == "spark-app-watch[test]"
    await fake_k8s.wait_for_watchers()
    assert recorder.snapshots == 1 and list(recorder.objects) == ["a"]
    await create(fake_k8s, "b", namespace="elsewhere")
    for _ in range(4):
        await fake_k8s.operator.step()
    await eventually(lambda: recorder.states() == {"a": "COMPLETED", "b": "COMPLETED"})
    assert recorder.seen == {"a": ALL_STATES, "b": ALL_STATES}
    await watch.stop()
    assert task.done()


async def test_catches_up_after_the_connection_drops_mid_stream(
    fake_k8s: FakeKubernetes, watch: SparkAppWatch, recorder: Recorder
) -> None:
    await create(fake_k8s, "a")
    watch.start()
    await fake_k8s.wait_for_watchers()
    await fake_k8s.operator.step()
    await eventually(lambda: recorder.states() == {"a": "SUBMITTED"})
    await fake_k8s.drop_watches()
    await fake_k8s.operator.step()  # while the watch is backing off: must not be lost
    await fake_k8s.operator.step()
    await converged(fake_k8s, recorder)
    assert recorder.seen["a"] == ["", "SUBMITTED", "RUNNING", "SUCCEEDING"]  # replayed, not re-listed
    assert recorder.snapshots == 1 and watch.failures == 0


async def test_lists_again_after_410_and_sees_changes_made_meanwhile(
    fake_k8s: FakeKubernetes, watch: SparkAppWatch, recorder: Recorder
) -> None:
    await create(fake_k8s, "a")
    await create(fake_k8s, "gone")
    watch.start()
    await fake_k8s.wait_for_watchers()
    await fake_k8s.server_down()
    await fake_k8s.operator.step()
    await fake_k8s.operator.step()
    await fake_k8s.delete_app("default", "gone")
    await fake_k8s.compact()  # the history of what was missed is gone: only a new list can tell
    await fake_k8s.server_up()
    await converged(fake_k8s, recorder)
    assert recorder.states() == {"a": "RUNNING"} and recorder.snapshots == 2
    await fake_k8s.operator.step()
    await eventually(lambda: recorder.states() == {"a": "SUCCEEDING"})


async def test_backs_off_while_the_server_is_down(
    fake_k8s: FakeKubernetes, watch: SparkAppWatch, recorder: Recorder
) -> None:
    watch.backoff = Backoff(base=0.01, maximum=0.04, jitter=0.5)
    await create(fake_k8s, "a")
    task = watch.start()
    await fake_k8s.wait_for_watchers()
    await fake_k8s.server_down()
    await eventually(lambda: watch.failures >= 5)
    assert not task.done()
    await fake_k8s.server_up()
    await fake_k8s.wait_for_watchers()
    await fake_k8s.operator.step()
    await converged(fake_k8s, recorder)
    assert watch.failures == 0


def test_backoff_grows_is_capped_and_jittered() -> None:
    plain = Backoff(base=0.5, maximum=4.0, jitter=0.0)
    assert [plain.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    jittered = Backoff(base=1.0, maximum=10.0, jitter=0.2)
    delays = [jittered.delay(2) for _ in range(200)]
    assert all(1.6 <= d <= 2.4 for d in delays) and len(set(delays)) > 1
    assert all(jittered.delay(50) <= 10.0 for _ in range(50))


async def test_a_failing_callback_does_not_stop_the_watch(
    fake_k8s: FakeKubernetes, watch: SparkAppWatch, recorder: Recorder
) -> None:
    calls = 0

    async def flaky(event_type: str, obj: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in a handler")
        await recorder.on_event(event_type, obj)

    watch.on_event = flaky
    await create(fake_k8s, "a")
    watch.start()
    await fake_k8s.wait_for_watchers()
    for _ in range(4):
        await fake_k8s.operator.step()
    await converged(fake_k8s, recorder)
    assert recorder.seen["a"] == ["", "RUNNING", "SUCCEEDING", "COMPLETED"]  # SUBMITTED hit the bug


async def test_bounded_rounds(fake_k8s: FakeKubernetes, watch: SparkAppWatch, recorder: Recorder) -> None:
    await create(fake_k8s, "a")
    await watch.run(max_rounds=1)  # the list only
    assert recorder.snapshots == 1 and watch.rounds == 1 and not fake_k8s.watchers
    one_watch = asyncio.create_task(watch.run(max_rounds=1))
    await fake_k8s.wait_for_watchers()
    await fake_k8s.operator.step()
    await eventually(lambda: recorder.states() == {"a": "SUBMITTED"})
    await fake_k8s.drop_watches(abrupt=False)  # the server ends the stream, as at its timeout
    await asyncio.wait_for(one_watch, 5)
    assert watch.rounds == 2 and watch.failures == 0

    watch.min_watch_seconds = 10  # a stream that ends at once with nothing in it is a failure
    too_short = asyncio.create_task(watch.run(max_rounds=1))
    await fake_k8s.wait_for_watchers()
    await fake_k8s.drop_watches(abrupt=False)
    await asyncio.wait_for(too_short, 5)
    assert watch.failures == 1
