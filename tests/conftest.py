"""Shared fixtures: which real services exist here, and whether their absence is a skip or a failure.

On a user's machine a test that needs PostgreSQL or Java skips with the reason. `.ci/run` sets
SPARK_GATEWAY_REQUIRE_ALL=1, which turns each such skip into a failure.

Two forms of the suite: `make test` (the quick form, what CI runs) and `make test-long` (`pytest --long`).
A test marked `long` runs only in the long form; a test sized with `quick_or_long(quick, long)` runs in
both, at the larger size in the long form (more submissions, bigger logs, more rounds).

`make test` runs in two phases: `pytest -n N --phase=parallel` (pytest-xdist worker processes; every
test makes its own databases, ports and directories, so they can share the machine), then
`pytest --phase=serial`: the tests marked `serial`, which disturb every other test (restarting the
machine's PostgreSQL), alone. A plain `pytest` runs both kinds in one process.

The repository stands alone: the team keeps reference material in a `shared/` directory next to the
checkout, which a user's clone does not have. An audit hook records every file or directory this test
process opens there, and the run fails if there was any (see `pytest_sessionfinish`); under xdist each
worker hands its findings to the controller, which decides the run's outcome.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"
PG_HOST, PG_PORT = os.environ.get("SPARK_GATEWAY_TEST_PG_HOST", "127.0.0.1"), 5432
PG_URL = os.environ.get(
    "SPARK_GATEWAY_TEST_PG_URL", f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/test"
)

T = TypeVar("T")
TEAM_MATERIAL = REPO_ROOT.parent / "shared"
_team_material_opened: list[str] = []


def _record_team_material(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: note opens and listings under TEAM_MATERIAL (absent from a user's clone)."""
    if event not in ("open", "os.listdir", "os.scandir") or not args:
        return
    target = args[0]
    if isinstance(target, str | os.PathLike):
        path = os.path.abspath(os.fspath(target))
        if path == str(TEAM_MATERIAL) or path.startswith(str(TEAM_MATERIAL) + os.sep):
            _team_material_opened.append(path)


sys.addaudithook(_record_team_material)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=os.environ.get("SPARK_GATEWAY_LONG_TESTS") == "1",
        help="the long form: tests marked `long` too, and sized tests at their long size",
    )
    parser.addoption(
        "--phase",
        choices=("all", "parallel", "serial"),
        default="all",
        help="`parallel`: every test but those marked `serial` (for pytest -n N); `serial`: only those",
    )


def on_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _xdist_workers(config: pytest.Config) -> bool:
    """True on the controller of a run spread over worker processes (`pytest -n N`, N > 0)."""
    return bool(getattr(config.option, "numprocesses", None)) and config.getoption("dist", "no") != "no"


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--long"):  # an environment variable reaches every import of this module
        os.environ["SPARK_GATEWAY_LONG_TESTS"] = "1"
    if _xdist_workers(config) and config.getoption("--phase") != "parallel":
        raise pytest.UsageError(
            "with -n, pass --phase=parallel: the tests marked `serial` restart PostgreSQL under every other "
            "test, so they run afterwards, alone, with `pytest --phase=serial` (make test runs both)"
        )
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_WorkerFindings(), "spark-gateway-worker-findings")


def long_form() -> bool:
    """True under `pytest --long` (`make test-long`)."""
    return os.environ.get("SPARK_GATEWAY_LONG_TESTS") == "1"


def quick_or_long(quick: T, long: T) -> T:
    """A size for a test: `quick` in `make test`, `long` in `make test-long`."""
    return long if long_form() else quick


_left_to_other_phase: list[str] = []  # the selected tests that the other phase runs


def _left_out(config: pytest.Config, item: pytest.Item) -> bool:
    """Deselected here: `long` outside the long form; `serial` or not, by `--phase`."""
    if item.get_closest_marker("long") is not None and not long_form():
        return True
    serial = item.get_closest_marker("serial") is not None
    return {"all": False, "parallel": serial, "serial": not serial}[config.getoption("--phase")]


def _in_other_phase(config: pytest.Config, item: pytest.Item) -> bool:
    return _left_out(config, item) and (item.get_closest_marker("long") is None or long_form())


def _heavy(item: pytest.Item) -> bool:
    """Starts real processes (gateways, Spark JVMs): tens of seconds, where most tests take one."""
    return "spark_env" in getattr(item, "fixturenames", ()) or any(
        item.get_closest_marker(name) for name in ("spark", "e2e")
    )


def _heaviest_modules_first(items: list[pytest.Item]) -> None:
    """Order modules by their estimated cost (a heavy test counts as 30 light ones), keeping each
    module's own order: xdist hands out whole modules in this order, so the long ones start first."""
    weight: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        weight[module] = weight.get(module, 0) + (30 if _heavy(item) else 1)
    position = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (-weight[item.nodeid.split("::", 1)[0]], position[id(item)]))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip: CI fails on skips) what this form and phase leave out.

    On an xdist worker (make test runs `--dist loadfile`: a module's tests stay on one worker, so its
    module-scoped gateways, sessions and browsers are set up once), the heaviest modules come first.
    Every worker collects and sorts the same way, as xdist requires.
    """
    kept = [item for item in items if not _left_out(config, item)]
    _left_to_other_phase.extend(item.nodeid for item in items if _in_other_phase(config, item))
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if _left_out(config, item)])
        items[:] = kept
    if on_xdist_worker(config):
        _heaviest_modules_first(items)


def require_all() -> bool:
    return os.environ.get("SPARK_GATEWAY_REQUIRE_ALL") == "1"


def missing(reason: str) -> None:
    """Skip (user machine) or fail (CI) because a required real service is absent."""
    if require_all():
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def postgres_available() -> bool:
    return _port_open(PG_HOST, PG_PORT)


def java_available() -> bool:
    java = shutil.which("java")
    if java is None:
        return False
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def pyspark_available() -> bool:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def pg_url() -> str:
    if not postgres_available():
        missing(f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}")
    return PG_URL


@pytest.fixture(scope="session")
def spark_env() -> dict[str, str]:
    """Environment for real Spark jobs; skips (or fails in CI) without Java 17 and pyspark."""
    if not java_available():
        missing("Java is not installed (real Spark tests need Java 17)")
    if not pyspark_available():
        missing("pyspark is not installed")
    env = dict(os.environ)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


@pytest.fixture
def examples_dir() -> Path:
    return EXAMPLES


# Databases ---------------------------------------------------------------------------------------


async def create_pg_database(base_url: str) -> str:
    """A fresh, uniquely named PostgreSQL database for one test; returns its URL."""
    import uuid

    import asyncpg

    name = f"sgtest_{uuid.uuid4().hex[:12]}"
    dsn = base_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return base_url.rsplit("/", 1)[0] + "/" + name


async def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    dsn = url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def fresh_db(pg_url: str) -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database for one test (shared by the processes it starts)."""
    url = await create_pg_database(pg_url)
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each repository/service test runs once on SQLite and once on PostgreSQL (a `fresh_db`)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    return str(request.getfixturevalue("fresh_db"))


@pytest.fixture
async def database(db_url: str):  # type: ignore[no-untyped-def]
    from spark_gateway.db import migrate
    from spark_gateway.db.engine import Database

    db = Database(db_url)
    await migrate.upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


class _WorkerFindings:
    """Under xdist: what a worker's audit hook saw reaches the controller (`workeroutput`)."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {})
        _team_material_opened.extend(output.get("team_material_opened", []))
        _left_to_other_phase.extend(output.get("left_to_other_phase", []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Reading the team's material fails the run; in CI every test must also run (any skip is red).

    On an xdist worker this only hands over what the audit hook saw: the controller, which gets every
    test's report, decides. A phase left with nothing because the other phase has every selected test
    (a path without `serial` tests, or only those) passes.
    """
    if on_xdist_worker(session.config):
        output = session.config.workeroutput  # type: ignore[attr-defined]
        output["team_material_opened"] = list(_team_material_opened)
        output["left_to_other_phase"] = list(_left_to_other_phase)
        return
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and _left_to_other_phase:
        session.exitstatus = pytest.ExitCode.OK
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if _team_material_opened:
        if reporter:
            reporter.write_line(
                f"FAILED: the tests read {sorted(set(_team_material_opened))[:5]}, outside the repository; "
                "a user's clone has no such files (copy what is needed under tests/data/)"
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not require_all():
        return
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        if reporter:
            reporter.write_line(f"FAILED: {skipped} test(s) skipped, but CI requires every test to run")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
