"""LocalBackend with the real, bundled spark-submit running the examples: completion, a failure's
traceback, killing the whole process group, and a job that outlives its backend.

The long form only (`make test-long`): `make test` runs each of these behaviours on real Spark through
the API and real gateway processes in tests/e2e/test_local_spark.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from spark_gateway.backends.local import LocalBackend
from spark_gateway.domain.states import AppState
from tests.backends.local.harness import (
    RecordingSink,
    assert_group_gone,
    command_line,
    group_members,
    make_app,
    make_cluster,
    run_until,
    submit,
    tracked,
)

pytestmark = pytest.mark.long


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
        await spark_backend.poll(sink)
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
