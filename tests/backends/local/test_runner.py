"""The runner that wraps every local job: a SIGTERM to it reaches the job's whole process group, and
the exit status is written where a re-attaching gateway finds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.backends.local.harness import assert_group_gone, group_members


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
