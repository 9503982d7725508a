"""A fresh clone runs and tests without the team's reference material next to the checkout.

The material lives in a `shared/` directory beside the repository for the team and CI only. Whatever the
project needs from it (the SparkApplication CRD, sample configurations) is copied under `tests/data/`
with its origin; nothing may point back at it, and the suite fails if it reads there (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from pathlib import Path

from tests.conftest import REPO_ROOT, TEAM_MATERIAL, _team_material_opened
from tests.support.crd import CRD_FILE

CHECKED = ["src", "tests", "bench", "examples", ".ci", "Makefile", "pyproject.toml"]
REFERENCE = re.compile(r"\.\./shared\b|/work/shared\b")


def checked_files() -> list[Path]:
    files: list[Path] = []
    for name in CHECKED:
        path = REPO_ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [f for f in candidates if f.is_file() and "__pycache__" not in f.parts]
    return [f for f in files if f != Path(__file__).resolve()]


def test_no_file_points_at_the_team_material() -> None:
    offenders = []
    for path in checked_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{path.relative_to(REPO_ROOT)}:{n}"
            for n, line in enumerate(text.splitlines(), 1)
            if REFERENCE.search(line)
        ]
    assert offenders == []


def test_reading_the_team_material_is_caught() -> None:
    before = len(_team_material_opened)
    target = TEAM_MATERIAL / "any-file"
    with contextlib.suppress(OSError):
        target.open().close()
    caught = _team_material_opened[before:]
    del _team_material_opened[before:]  # this read was on purpose: it must not fail the run
    assert caught == [str(target)]


def test_the_crd_in_the_repository_is_the_unmodified_upstream_file() -> None:
    readme = (CRD_FILE.parent / "README.md").read_text()
    noted = re.search(r"sha256\s+`([0-9a-f]{64})`", readme)
    assert noted is not None
    assert hashlib.sha256(CRD_FILE.read_bytes()).hexdigest() == noted[1]
    assert "Apache License" in (CRD_FILE.parent / "LICENSE").read_text()
