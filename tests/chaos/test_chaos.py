"""The fault harness's short form: a few rounds with fixed seeds, every fault kind, zero violations.

The long form (`python -m tests.chaos.harness --rounds 200`) is described in the README; a seed that
fails here or there replays with `--seed S --rounds 1`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import FAULTS, run

# One seed per fault kind (the first draw of `one_round`): kill_replica, cut_database, kill_runner, none,
# kill_holder.
SEEDS = [100, 101, 103, 104, 109]


@pytest.mark.usefixtures("pg_url")
async def test_random_faults_leave_no_violation(tmp_path: Path) -> None:
    figures = await run(SEEDS, FAULTS, root=tmp_path)
    assert figures.violations == [], "\n".join(figures.violations)
    assert figures.rounds == len(SEEDS)
    assert set(figures.faults) == set(FAULTS), figures.report()
    assert figures.acknowledged == figures.submissions
