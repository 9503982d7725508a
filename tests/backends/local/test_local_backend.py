"""LocalBackend supervision with a fake `spark-submit` (a small Python script configured as
`local.sparkSubmit`): log tailing, exit codes, kill with SIGKILL escalation, re-attaching, and submitting
one job twice — quickly and without Java. Real Spark runs in test_local_backend_spark.py.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
from pathlib import Path

from spark_gateway.domain.states import AppState
from tests.backends.local.harness import (
    FAKE_SPARK_SUBMIT,
    RecordingSink,
    assert_group_gone,
    fake_backend,
    group_exists,
    group_members,
    make_app,
    run_until,
    submit,
    tracked,
    wait_for_file,
)

__all__ = ["FAKE_SPARK_SUBMIT"]  # tests/services/supervision/test_supervisor.py imports it from here


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
        await backend.poll(sink)
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


def test_fake_script_is_valid_python() -> None:
    compile(textwrap.dedent(FAKE_SPARK_SUBMIT.format(python="x").split("\n", 1)[1]), "fake", "exec")
