"""LocalBackend end to end: real process groups, real files, and (marked by `spark_env`) real Spark.

The first half runs a fake `spark-submit` (a small Python script configured as `local.sparkSubmit`) to
exercise the supervision machinery quickly and without Java: log tailing, exit codes, kill with SIGKILL
escalation, re-attaching. The second half runs the examples with the real, bundled spark-submit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spark_gateway.backends.base import StatusUpdate, TrackedApplication
from spark_gateway.backends.local import LocalBackend
from spark_gateway.backends.local.driverlog import SparkFacts, last_exception, read_new_lines
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

    async def append_logs(self, gateway_id: str, lines: list[str]) -> None:
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


LAUNCHED_GROUPS: list[int] = []


@pytest.fixture(autouse=True)
def no_leftover_jobs() -> Iterator[None]:
    """A failing test must not leave its job running: SIGKILL the groups it launched."""
    yield
    while LAUNCHED_GROUPS:
        pgid = LAUNCHED_GROUPS.pop()
        if group_members(pgid):
            os.killpg(pgid, signal.SIGKILL)


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
        await backend.watch(sink, once=True)
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


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Path, Path]:
    """(fake spark-submit, a main file in an allowed directory next to the data directory)."""
    script = tmp_path / "fake-spark-submit"
    script.write_text(FAKE_SPARK_SUBMIT.format(python=sys.executable))
    script.chmod(0o755)
    main = tmp_path / "apps" / "app.py"
    main.parent.mkdir()
    main.write_text("")
    return script, main


def fake_backend(fake: tuple[Path, Path], **local: Any) -> LocalBackend:
    script, main = fake
    cluster = make_cluster(sparkSubmit=str(script), allowedDirs=[str(main.parent)], **local)
    return LocalBackend(cluster, main.parent.parent / "data")


# Fake spark-submit: supervision without Java ----------------------------------------------------


async def test_success_streams_logs_and_reports_running_then_completed(fake: tuple[Path, Path]) -> None:
    backend, sink = fake_backend(fake), RecordingSink()
    app = make_app(fake[1], "lines=3", "sleep=0.5", "tail=no newline at the end")
    ref = await submit(backend, sink, app)
    gid = app.metadata.name or ""
    assert {"pid", "pgid", "job_dir", "log_path", "exit_path", "log_offset"} <= ref.keys()
    assert ref["pid"] == ref["pgid"] and ref["log_offset"] == 0
    assert Path(ref["job_dir"]) == fake[1].parent.parent / "data" / "jobs" / gid
    assert await backend.running_count() == 1

    final = await run_until(backend, sink, gid, timeout=20)
    assert sink.states(gid) == [AppState.SUBMITTED, AppState.RUNNING, AppState.COMPLETED]
    running = sink.first(gid, AppState.RUNNING)[1]
    # A printed "app ID" line is no app id: only the job's own UI is believed (there is none here).
    assert running.spark_app_id is None and final.spark_app_id is None
    assert final.error_message is None and final.status["terminationTime"].endswith("Z")
    assert final.backend_ref is not None and final.backend_ref["exit_code"] == 0
    assert final.backend_ref["log_offset"] == await asyncio.to_thread(os.path.getsize, ref["log_path"])
    lines = sink.lines[gid]
    assert lines[-4:] == ["line 0", "line 1", "line 2", "no newline at the end"]
    assert await backend.running_count() == 0
    assert (await backend.logs(tracked(app, final.state, final.backend_ref), 2)) == lines[-2:]
    # The runner exits just after writing the exit code; the next round reaps it (no zombie left).
    deadline = time.monotonic() + 5
    while group_exists(ref["pgid"]) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        await backend.watch(sink, once=True)
    assert_group_gone(ref["pgid"])
    await backend.close()


async def test_failure_reports_exit_code_and_last_exception(fake: tuple[Path, Path]) -> None:
    backend, sink = fake_backend(fake), RecordingSink()
    app = make_app(fake[1], "error=ValueError: boom", "exit=3")
    await submit(backend, sink, app)
    final = await run_until(backend, sink, app.metadata.name or "", timeout=20)
    assert final.state == AppState.FAILED
    assert final.error_message == "spark-submit exited with code 3: ValueError: boom"
    await backend.close()


async def test_kill_escalates_to_sigkill_and_leaves_no_process(fake: tuple[Path, Path]) -> None:
    backend, sink = fake_backend(fake, killGracePeriodSeconds=1), RecordingSink()
    app = make_app(fake[1], "trap=1", "child=1", "sleep=600")
    ref = await submit(backend, sink, app)
    gid = app.metadata.name or ""
    await run_until(backend, sink, gid, timeout=20, state=AppState.RUNNING)
    assert len(group_members(ref["pgid"])) == 3  # runner, fake spark-submit, its child

    started = time.monotonic()
    await backend.kill(tracked(app, AppState.RUNNING, ref))
    assert 1 <= time.monotonic() - started < 15  # SIGTERM was ignored: SIGKILL after the grace period
    assert_group_gone(ref["pgid"])
    await backend.kill(tracked(app, AppState.RUNNING, ref))  # idempotent

    final = await run_until(backend, sink, gid, timeout=5)
    assert (final.state, final.error_message) == (AppState.FAILED, "killed by user")
    assert "killed by user" not in sink.lines[gid][-1]  # the services layer logs that itself
    await backend.close()


async def test_reattach_resumes_at_the_log_offset_and_reports_the_end(fake: tuple[Path, Path]) -> None:
    first, sink = fake_backend(fake), RecordingSink()
    app = make_app(fake[1], "wait=1", "lines=2", "sleep=0.5", "exit=0")
    await submit(first, sink, app)
    gid = app.metadata.name or ""
    running = await run_until(first, sink, gid, timeout=20, state=AppState.RUNNING)
    await first.close()
    del first  # a new gateway process takes over; the job goes on

    assert running.backend_ref is not None and running.backend_ref["log_offset"] > 0
    second, later = fake_backend(fake), RecordingSink()
    await second.reattach(tracked(app, AppState.RUNNING, running.backend_ref), later)
    final = await run_until(second, later, gid, timeout=20)
    assert final.state == AppState.COMPLETED
    assert later.lines[gid] == ["line 0", "line 1"]  # not the lines the first instance delivered
    await second.close()


async def test_reattach_to_a_job_that_ended_meanwhile(fake: tuple[Path, Path]) -> None:
    first, sink = fake_backend(fake), RecordingSink()
    app = make_app(fake[1], "error=RuntimeError: late", "exit=1")
    ref = await submit(first, sink, app)
    await first.close()
    await asyncio.to_thread(wait_for_file, Path(ref["exit_path"]), 20)

    second, later = fake_backend(fake), RecordingSink()
    await second.reattach(tracked(app, AppState.SUBMITTED, ref), later)  # reports at once, no watch needed
    final = later.last(app.metadata.name or "")
    assert final is not None and final.state == AppState.FAILED
    assert final.error_message == "spark-submit exited with code 1: RuntimeError: late"
    assert await second.running_count() == 0


async def test_reattach_to_a_vanished_job_without_exit_code(fake: tuple[Path, Path], tmp_path: Path) -> None:
    gone = await asyncio.create_subprocess_exec("true")
    await gone.wait()
    job_dir = tmp_path / "data" / "jobs" / "x"
    job_dir.mkdir(parents=True)
    (job_dir / "driver.log").write_text("started\n")
    ref = {
        "pid": gone.pid,
        "pgid": gone.pid,
        "job_dir": str(job_dir),
        "log_path": str(job_dir / "driver.log"),
        "exit_path": str(job_dir / "exit_code"),
        "log_offset": 0,
    }
    app = make_app(fake[1])
    backend, sink = fake_backend(fake), RecordingSink()
    await backend.reattach(tracked(app, AppState.RUNNING, ref), sink)
    gid = app.metadata.name or ""
    final = sink.last(gid)
    reason = "job process disappeared (gateway restart or external kill)"
    assert final is not None and (final.state, final.error_message) == (AppState.FAILED, reason)
    assert sink.lines[gid] == ["started", f"spark-gateway: {reason}"]

    broken, broken_sink = make_app(fake[1]), RecordingSink()
    await backend.reattach(tracked(broken, AppState.SUBMITTED, {}), broken_sink)
    update = broken_sink.last(broken.metadata.name or "")
    assert update is not None and update.state == AppState.FAILED
    assert update.error_message == "cannot re-attach to the job: no backend reference was recorded"
    assert broken_sink.lines[broken.metadata.name or ""] == [f"spark-gateway: {update.error_message}"]


async def test_submitting_a_launched_id_again_adopts_the_job(fake: tuple[Path, Path]) -> None:
    first, sink = fake_backend(fake), RecordingSink()
    app = make_app(fake[1], "sleep=0.5")
    ref = await submit(first, sink, app)
    again = await fake_backend(fake).submit(app)  # e.g. after a crash before the launch was recorded
    assert again.backend_ref["pid"] == ref["pid"]
    await run_until(first, sink, app.metadata.name or "", timeout=20)


def test_runner_forwards_sigterm_to_the_whole_group(tmp_path: Path) -> None:
    exit_file = tmp_path / "exit_code"
    grandchild = "import time; time.sleep(60)"
    code = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {grandchild!r}]);"
    code += " print('ready', flush=True); time.sleep(60)"
    wrapper = [sys.executable, "-m", "spark_gateway.backends.local.runner", "--exit-file", str(exit_file)]
    runner = subprocess.Popen(
        [*wrapper, "--", sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert runner.stdout is not None and runner.stdout.readline() == b"ready\n"
    assert len(group_members(runner.pid)) == 3
    os.kill(runner.pid, signal.SIGTERM)  # only the runner: it passes the signal on to the group
    assert runner.wait(timeout=10) == 128 + signal.SIGTERM
    assert exit_file.read_text() == f"{-signal.SIGTERM}\n"
    assert_group_gone(runner.pid)


def test_log_reading_keeps_partial_lines_for_later(tmp_path: Path) -> None:
    log = tmp_path / "driver.log"
    log.write_bytes(b"one\r\ntwo\nthr")
    chunk = read_new_lines(log, 0)
    assert chunk is not None and (chunk.lines, chunk.new_offset) == (["one", "two"], 9)
    with log.open("ab") as handle:
        handle.write(b"ee\nfour")
    chunk = read_new_lines(log, 9)
    assert chunk is not None and chunk.lines == ["three"]
    final = read_new_lines(log, chunk.new_offset, final=True)
    assert final is not None and (final.lines, final.at_eof) == (["four"], True)
    assert read_new_lines(tmp_path / "missing.log", 0) is None


def test_spark_log_facts() -> None:
    facts = SparkFacts()
    facts.scan(
        [
            "26/11/28 15:45:10 INFO SparkContext: Submitted application: PythonPi",
            "26/11/28 15:45:12 INFO JettyUtils: Start Jetty 127.0.0.1:4040 for SparkUI",
            "26/11/28 15:45:12 WARN Utils: Service 'SparkUI' could not bind on port 4040. Attempting 4041.",
            "26/11/28 15:45:12 INFO Utils: Successfully started service 'SparkUI' on port 4041.",
        ]
    )
    # Only a candidate port: the backend fetches it once the job's processes listen on it.
    assert (facts.started, facts.ui_ports, facts.ui_url, facts.app_id) == (True, [4041], None, None)
    spark35 = SparkFacts()
    spark35.scan(
        ["26/11/28 15:45:12 INFO SparkUI: Bound SparkUI to 0.0.0.0, and started at http://host:4040"]
    )
    assert (spark35.started, spark35.ui_ports) == (True, [4040])
    assert last_exception(["Traceback:", "RuntimeError: this batch fails on purpose", "INFO x: done"]) == (
        "RuntimeError: this batch fails on purpose"
    )
    assert last_exception(['Exception in thread "main" java.lang.ClassNotFoundException: Foo']) == (
        "java.lang.ClassNotFoundException: Foo"
    )
    assert last_exception(["26/11/28 15:45:12 ERROR SparkContext: Error initializing SparkContext."]) is None


# Real Spark ----------------------------------------------------------------------------------------


@pytest.fixture
def spark_backend(spark_env: dict[str, str], tmp_path: Path, examples_dir: Path) -> LocalBackend:
    return LocalBackend(make_cluster(pollIntervalSeconds=0.2), tmp_path, examples_dir=examples_dir)


@pytest.mark.spark
@pytest.mark.timeout(240)
async def test_spark_pi_completes(spark_backend: LocalBackend, examples_dir: Path) -> None:
    sink = RecordingSink()
    app = make_app(examples_dir / "pi.py")
    gid = app.metadata.name or ""
    started = time.monotonic()
    await submit(spark_backend, sink, app)
    final = await run_until(spark_backend, sink, gid, timeout=180)
    assert sink.states(gid) == [AppState.SUBMITTED, AppState.RUNNING, AppState.COMPLETED], sink.lines[gid][
        -20:
    ]
    running_at = sink.first(gid, AppState.RUNNING)[0]
    # Usually the first RUNNING update has them; on a loaded machine a later one (same state) does.
    assert final.spark_app_id is not None and final.spark_app_id.startswith("local-")
    assert final.status["driverInfo"]["webUIAddress"].startswith("http://127.0.0.1:")
    id_at = next(t for t, u in sink.updates if u.spark_app_id)
    assert any(line.startswith("Pi is roughly") for line in sink.lines[gid])
    done_at = sink.first(gid, AppState.COMPLETED)[0]
    print(
        f"\npi: RUNNING after {running_at - started:.1f} s, app id after {id_at - started:.1f} s,"
        f" COMPLETED after {done_at - started:.1f} s"
    )
    await spark_backend.close()


@pytest.mark.spark
@pytest.mark.timeout(240)
async def test_spark_failure_keeps_the_traceback(spark_backend: LocalBackend, examples_dir: Path) -> None:
    sink = RecordingSink()
    app = make_app(examples_dir / "fail.py")
    gid = app.metadata.name or ""
    await submit(spark_backend, sink, app)
    final = await run_until(spark_backend, sink, gid, timeout=180)
    assert final.state == AppState.FAILED
    assert final.error_message == "spark-submit exited with code 1: RuntimeError: this batch fails on purpose"
    assert "Traceback (most recent call last):" in sink.lines[gid]
    assert "RuntimeError: this batch fails on purpose" in sink.lines[gid]
    await spark_backend.close()


@pytest.mark.spark
@pytest.mark.timeout(240)
async def test_spark_kill_stops_the_whole_process_group(
    spark_backend: LocalBackend, examples_dir: Path
) -> None:
    sink = RecordingSink()
    app = make_app(examples_dir / "sleep.py")
    gid = app.metadata.name or ""
    ref = await submit(spark_backend, sink, app)
    deadline = time.monotonic() + 90
    while "sleeper started" not in sink.lines[gid] and time.monotonic() < deadline:
        await spark_backend.watch(sink, once=True)
        await asyncio.sleep(0.2)
    members = group_members(ref["pgid"])
    commands = [command_line(pid) for pid in members]
    assert any(b"SparkSubmit" in c for c in commands) and any(b"sleep.py" in c for c in commands), commands

    started = time.monotonic()
    await spark_backend.kill(tracked(app, AppState.RUNNING, ref))
    print(f"\nkill: group of {len(members)} processes gone after {time.monotonic() - started:.1f} s")
    assert_group_gone(ref["pgid"])
    assert not any(command_line(pid) for pid in members)
    final = await run_until(spark_backend, sink, gid, timeout=10)
    assert (final.state, final.error_message) == (AppState.FAILED, "killed by user")
    await spark_backend.close()


@pytest.mark.spark
@pytest.mark.timeout(240)
async def test_spark_job_survives_a_backend_restart(
    spark_env: dict[str, str], tmp_path: Path, examples_dir: Path
) -> None:
    first, sink = LocalBackend(make_cluster(), tmp_path, examples_dir=examples_dir), RecordingSink()
    app = make_app(examples_dir / "sleep.py", "3")
    gid = app.metadata.name or ""
    await submit(first, sink, app)
    running = await run_until(first, sink, gid, timeout=180, state=AppState.RUNNING)
    await first.close()
    del first

    assert running.backend_ref is not None
    second, later = LocalBackend(make_cluster(), tmp_path, examples_dir=examples_dir), RecordingSink()
    await second.reattach(tracked(app, AppState.RUNNING, running.backend_ref), later)
    final = await run_until(second, later, gid, timeout=180)
    assert final.state == AppState.COMPLETED
    assert "sleeper done" in later.lines[gid]
    assert not any("Submitted application" in line for line in later.lines[gid])
    await second.close()


def test_fake_script_is_valid_python() -> None:
    compile(textwrap.dedent(FAKE_SPARK_SUBMIT.format(python="x").split("\n", 1)[1]), "fake", "exec")


async def test_submitting_a_running_job_again_reports_it_instead_of_failing(fake: tuple[Path, Path]) -> None:
    """A launch whose recording failed (database outage) is submitted again: same job, no second one."""
    backend, sink = fake_backend(fake), RecordingSink()
    app = make_app(fake[1], "sleep=1")
    gid = app.metadata.name or ""
    first = await submit(backend, sink, app)
    again = await backend.submit(app)
    assert again.backend_ref["pgid"] == first["pgid"]
    assert again.update.state == AppState.SUBMITTED
    assert await backend.running_count() == 1
    final = await run_until(backend, sink, gid, timeout=20)
    assert final.state == AppState.COMPLETED
