"""A launch interrupted between creating the job directory and writing its job.json (the gateway killed
in between) is not a dead end: submitting the application again adopts the process that launch started,
or, when none started, launches it in the same directory. Never a second job, never an untracked one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from spark_gateway.backends.local import jobs
from spark_gateway.domain.states import AppState
from tests.backends.local.harness import LAUNCHED_GROUPS, RecordingSink, fake_backend, make_app, run_until


def start_runner(job_dir: Path, fake: tuple[Path, Path]) -> subprocess.Popen[bytes]:
    """What the interrupted launch started: the runner, in the job directory, in its own session."""
    runner = Path(jobs.__file__).with_name("runner.py")
    exit_file = str(job_dir / jobs.EXIT_FILE)
    with (job_dir / jobs.LOG_FILE).open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-I",
                str(runner),
                "--exit-file",
                exit_file,
                "--",
                str(fake[0]),
                str(fake[1]),
                "sleep=1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=job_dir,
            start_new_session=True,
        )


async def test_the_process_of_an_interrupted_launch_is_adopted(fake: tuple[Path, Path]) -> None:
    backend, sink = fake_backend(fake), RecordingSink()
    app = make_app(fake[1], "sleep=1")
    gid = app.metadata.name or ""
    job_dir = fake[1].parent.parent / "data" / "jobs" / gid
    job_dir.mkdir(parents=True)
    started = start_runner(job_dir, fake)
    LAUNCHED_GROUPS.append(started.pid)
    result = await backend.submit(app)
    assert result.backend_ref["pid"] == started.pid  # adopted, not launched a second time
    assert (job_dir / jobs.REF_FILE).exists()
    await sink.update(result.update)
    final = await run_until(backend, sink, gid, timeout=20)
    assert final.state == AppState.COMPLETED
    started.wait(5)


async def test_an_interrupted_launch_that_started_nothing_is_launched_again(fake: tuple[Path, Path]) -> None:
    backend, sink = fake_backend(fake), RecordingSink()
    app = make_app(fake[1], "sleep=0.2")
    gid = app.metadata.name or ""
    (fake[1].parent.parent / "data" / "jobs" / gid).mkdir(parents=True)  # and then the gateway died
    result = await backend.submit(app)
    LAUNCHED_GROUPS.append(result.backend_ref["pgid"])
    assert result.backend_ref["pid"] != os.getpid()
    await sink.update(result.update)
    final = await run_until(backend, sink, gid, timeout=20)
    assert final.state == AppState.COMPLETED
