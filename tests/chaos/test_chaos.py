"""The fault harness's short form: one round per fault kind with fixed seeds, zero violations.

The long form (`python -m tests.chaos.harness --rounds 200`) is described in the README; a seed that
fails here or there replays with `--seed S --rounds 1` (`--faults KIND` to force the kind).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import FAULTS, run


@pytest.mark.timeout(600)  # nine rounds, three of them restart a process: minutes on a loaded machine
@pytest.mark.usefixtures("pg_url")
async def test_random_faults_leave_no_violation(tmp_path: Path) -> None:
    seeds = list(range(100, 100 + len(FAULTS)))
    figures = await run(seeds, FAULTS, root=tmp_path, forced=FAULTS)
    assert figures.violations == [], "\n".join(figures.violations)
    assert figures.rounds == len(FAULTS)
    assert set(figures.faults) == set(FAULTS), figures.report()
    assert figures.acknowledged == figures.submissions.total()
