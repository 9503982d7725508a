"""The SparkManager bench's cluster: the fake Kubernetes API server (tests/fakes) in a process of its own.

Why a process: in the bench's own process the fake (serving the manager's watch, lists, pod and log
reads) and the bench (emitting status changes, reading rows) shared one interpreter and its GIL, so a
lag measured there mixed the manager's delays with the bench's. Here the fake runs in a child process
(multiprocessing, `spawn`) that the bench drives with messages over a pipe; the emission times it
records are those of the events the manager's watch receives.

The cluster it plays is a busy one: every application is RUNNING with its driver pod (owned by the
application, labelled with its submission, a few log lines), so each round of the manager's running-log
copies has every application's pod and log to read; each status change also gives that driver one more
log line, so some copies find something new.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tests.fakes.k8s_server import FakeKubernetes
from tests.fakes.k8s_store import API_VERSION, DRIVER_CONTAINER, KIND

PORT_BASE = 4040  # the k-th change of an application sets driverInfo.webUIPort to PORT_BASE + k
Key = tuple[str, str]


def pod_name(index: int) -> str:
    return f"app-{index}-driver"


def status_for(index: int, change: int) -> dict[str, Any]:
    """The operator's status of a running application at its `change`-th update (0: before the run)."""
    return {
        "applicationState": {"state": "RUNNING"},
        "submissionID": f"sub-{index}",
        "submissionAttempts": 1,
        "lastSubmissionAttemptTime": "2026-01-01T00:00:00Z",
        "executionAttempts": 1,
        "sparkApplicationId": f"spark-{index}",
        "driverInfo": {"podName": pod_name(index), "webUIPort": PORT_BASE + change},
    }


def driver_pod(index: int, app: dict[str, Any]) -> dict[str, Any]:
    """The driver pod the operator would have made for the application (theirs, of its submission)."""
    meta = app["metadata"]
    owner = {"apiVersion": API_VERSION, "kind": KIND, "name": meta["name"], "uid": meta["uid"]}
    labels = {
        "sparkoperator.k8s.io/app-name": meta["name"],
        "sparkoperator.k8s.io/submission-id": f"sub-{index}",
        "spark-role": "driver",
    }
    running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(index),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [owner | {"controller": True}],
        },
        "spec": {"containers": [{"name": DRIVER_CONTAINER, "image": "spark:4.0.0"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": DRIVER_CONTAINER, "state": running}]},
    }


def populate(fake: FakeKubernetes, bodies: list[dict[str, Any]], first: int) -> None:
    """On the fake's loop: the applications as the gateway created them (indexes from `first`),
    running, with driver pods."""
    for index, body in enumerate(bodies, start=first):
        namespace = body["metadata"]["namespace"]
        app, _ = fake.create_app(namespace, body)
        fake.write_status((namespace, app["metadata"]["name"]), status_for(index, 0))
        fake.put_pod(driver_pod(index, app))
        lines = [f"INFO SparkContext: Running Spark version 4.0.0 ({index})", "INFO Utils: started 'SparkUI'"]
        fake.logs[(namespace, pod_name(index))] = lines


async def emit_changes(
    fake: FakeKubernetes, keys: list[Key], rate: float, seconds: float
) -> tuple[dict[int, tuple[int, float]], int, float]:
    """On the fake's loop: write statuses at `rate` for `seconds`, round-robin; (index -> (last change,
    emitted at, epoch seconds)), how many were written, and over how long."""
    emitted: dict[int, tuple[int, float]] = {}
    loop = asyncio.get_running_loop()
    began, sent = loop.time(), 0
    while (elapsed := loop.time() - began) < seconds:
        due = int(elapsed * rate) + 1
        while sent < due:
            index, change = sent % len(keys), sent // len(keys) + 1
            fake.write_status(keys[index], status_for(index, change))
            fake.logs[(keys[index][0], pod_name(index))].append(f"INFO DAGScheduler: change {change}")
            emitted[index] = (change, time.time())
            sent += 1
        await asyncio.sleep(0.005)
    return emitted, sent, loop.time() - began


def _serve(conn: Connection, history_limit: int) -> None:
    """The child process: run the fake and answer the bench's requests until told to stop."""
    fake = FakeKubernetes(history_limit=history_limit).start()
    try:
        while True:
            op, args = conn.recv()
            if op == "stop":
                break
            try:
                if op == "populate":  # in slices: one call on the fake's loop must not take 30 s
                    bodies, result = args[0], None
                    for first in range(0, len(bodies), 500):
                        fake.call_sync(populate, fake, bodies[first : first + 500], first)
                elif op == "emit":
                    result = asyncio.run(fake.call(emit_changes, fake, *args))
                elif op == "kubeconfig":
                    result = fake.write_kubeconfig(Path(args[0]), context=args[1])
                elif op == "log_reads":
                    result = fake.call_sync(lambda: len(fake.log_requests))
                elif op == "rejections":
                    result = [message for _, message in fake.rejected]
                else:
                    raise ValueError(f"unknown request {op!r}")
                conn.send(("ok", result))
            except Exception as exc:  # the bench raises it
                conn.send(("error", repr(exc)))
    finally:
        fake.stop()
        conn.close()


class FakeCluster:
    """The bench's handle on the fake API server running in a child process."""

    def __init__(self, history_limit: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, history_limit), name="fake-k8s")
        self._process.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def _ask(self, op: str, *args: Any) -> Any:
        self._conn.send((op, args))
        outcome, result = self._conn.recv()
        if outcome != "ok":
            raise RuntimeError(f"the fake API server failed {op}: {result}")
        return result

    def populate(self, bodies: list[dict[str, Any]]) -> None:
        """The applications (as the gateway would have created them), running, with driver pods."""
        self._ask("populate", bodies)

    def emit(
        self, keys: list[Key], rate: float, seconds: float
    ) -> tuple[dict[int, tuple[int, float]], int, float]:
        result: tuple[dict[int, tuple[int, float]], int, float] = self._ask("emit", keys, rate, seconds)
        return result

    def write_kubeconfig(self, path: Path, context: str) -> Path:
        return Path(self._ask("kubeconfig", str(path), context))

    def log_reads(self) -> int:
        """Pod log reads served so far."""
        reads: int = self._ask("log_reads")
        return reads

    def assert_no_rejections(self) -> None:
        rejected = self._ask("rejections")
        assert not rejected, f"the fake API server rejected: {rejected}"

    def stop(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError):  # the child is gone already
                self._conn.send(("stop", ()))
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()
