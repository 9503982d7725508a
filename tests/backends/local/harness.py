"""Helpers for LocalBackend tests: a recording status sink, applications, a fake `spark-submit`, and
/proc readers that check process groups independently of the code under test."""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from spark_gateway.backends.base import StatusUpdate, TrackedApplication
from spark_gateway.backends.local import LocalBackend
from spark_gateway.domain.ids import new_gateway_id
from spark_gateway.domain.sparkapp import ObjectMeta, SparkApplication, SparkApplicationSpec
from spark_gateway.domain.states import AppState
from spark_gateway.settings import ClusterConfig, LocalBackendConfig, NamespaceConfig


class RecordingSink:
    """A StatusSink that remembers everything it is told, with the time it was told."""

    def __init__(self) -> None:
        self.updates: list[tuple[float, StatusUpdate]] = []
        self.lines: dict[str, list[str]] = defaultdict(list)

    async def update(self, update: StatusUpdate) -> None:
        self.updates.append((time.monotonic(), update))

    async def append_logs(
        self, gateway_id: str, lines: list[str], *, ref_update: dict[str, Any] | None = None
    ) -> None:
        self.lines[gateway_id].extend(lines)

    def of(self, gateway_id: str) -> list[StatusUpdate]:
        return [u for _, u in self.updates if u.gateway_id == gateway_id]

    def states(self, gateway_id: str) -> list[AppState]:
        states: list[AppState] = []
        for update in self.of(gateway_id):
            if not states or states[-1] != update.state:
                states.append(update.state)
        return states

    def first(self, gateway_id: str, state: AppState) -> tuple[float, StatusUpdate]:
        return next((t, u) for t, u in self.updates if u.gateway_id == gateway_id and u.state == state)

    def last(self, gateway_id: str) -> StatusUpdate | None:
        updates = self.of(gateway_id)
        return updates[-1] if updates else None


def make_cluster(**local: Any) -> ClusterConfig:
    local.setdefault("pollIntervalSeconds", 0.1)
    return ClusterConfig(
        name="local",
        id="local",
        type="local",
        namespaces=[NamespaceConfig(name="default", id="dflt")],
        local=LocalBackendConfig(**local),
    )


def make_app(main_file: Path, *arguments: str) -> SparkApplication:
    spec = SparkApplicationSpec(
        type="Python", sparkVersion="4.0.0", mainApplicationFile=str(main_file), arguments=list(arguments)
    )
    return SparkApplication(metadata=ObjectMeta(name=new_gateway_id("local", "dflt")), spec=spec)


LAUNCHED_GROUPS: list[int] = []  # SIGKILLed after each test (conftest.py)


async def submit(backend: LocalBackend, sink: RecordingSink, app: SparkApplication) -> dict[str, Any]:
    """Submit and record the SUBMITTED update, as the services layer does."""
    result = await backend.submit(app)
    LAUNCHED_GROUPS.append(result.backend_ref["pgid"])
    await sink.update(result.update)
    return result.backend_ref


def tracked(app: SparkApplication, state: AppState, ref: dict[str, Any]) -> TrackedApplication:
    assert app.metadata.name is not None
    return TrackedApplication(app.metadata.name, "default", state, ref, app)


async def run_until(
    backend: LocalBackend,
    sink: RecordingSink,
    gateway_id: str,
    *,
    timeout: float,
    state: AppState | None = None,
) -> StatusUpdate:
    """Watch round after round until the application reaches `state` (default: any terminal state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await backend.poll(sink)
        last = sink.last(gateway_id)
        if last is not None and (last.state == state if state else last.state.is_terminal):
            return last
        await asyncio.sleep(0.1)
    tail = "\n".join(sink.lines[gateway_id][-30:])
    pytest.fail(f"{gateway_id} did not reach {state or 'a final state'}: {sink.states(gateway_id)}\n{tail}")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in the group, from /proc: independent of the code under test."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                found.append(int(entry))
    return found


def command_line(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_group_gone(pgid: int) -> None:
    assert group_members(pgid) == []
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


FAKE_SPARK_SUBMIT = """\
#!{python}
# Prints what spark-submit would; behaviour from key=value arguments after the main file.
import signal, subprocess, sys, time
args = sys.argv[1:]
main = next(i for i, a in enumerate(args) if a.endswith(".py"))
opts = dict(a.split("=", 1) for a in args[main + 1 :])
print("26/01/01 00:00:00 INFO SparkContext: Submitted application: Fake", flush=True)
print("26/01/01 00:00:00 INFO StandaloneSchedulerBackend: Connected to Spark cluster with app ID "
      "app-20260101000000-0001", flush=True)
if opts.get("trap"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if opts.get("child"):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
time.sleep(float(opts.get("wait", "0")))
for i in range(int(opts.get("lines", "0"))):
    print(f"line {{i}}", flush=True)
time.sleep(float(opts.get("sleep", "0")))
if "error" in opts:
    print("Traceback (most recent call last):", flush=True)
    print(opts["error"], flush=True)
sys.stdout.write(opts.get("tail", ""))
sys.stdout.flush()
sys.exit(int(opts.get("exit", "0")))
"""


def fake_backend(fake: tuple[Path, Path], **local: Any) -> LocalBackend:
    script, main = fake
    cluster = make_cluster(sparkSubmit=str(script), allowedDirs=[str(main.parent)], **local)
    return LocalBackend(cluster, main.parent.parent / "data")
