"""Fixtures for LocalBackend tests: a fake `spark-submit`, a real-Spark backend, and no job left behind."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spark_gateway.backends.local import LocalBackend
from tests.backends.local.harness import FAKE_SPARK_SUBMIT, LAUNCHED_GROUPS, group_members, make_cluster


@pytest.fixture(autouse=True)
def no_leftover_jobs() -> Iterator[None]:
    """A failing test must not leave its job running: SIGKILL the groups it launched."""
    yield
    while LAUNCHED_GROUPS:
        pgid = LAUNCHED_GROUPS.pop()
        if group_members(pgid):
            os.killpg(pgid, signal.SIGKILL)


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


@pytest.fixture
def spark_backend(spark_env: dict[str, str], tmp_path: Path, examples_dir: Path) -> LocalBackend:
    return LocalBackend(make_cluster(pollIntervalSeconds=0.2), tmp_path, examples_dir=examples_dir)
