"""`spark_gateway.client` imports without the server's dependencies (laptops, CI images, schedulers).

Each check runs in a fresh interpreter whose import system refuses the server's packages and the
gateway's own server layers, so an accidental import anywhere in the client fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.e2e.conftest import REPO

SERVER_ONLY = [
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "pydantic",
    "pydantic_settings",
    "lightkube",
    "prometheus_client",
    "yaml",
    "bcrypt",
    "spark_gateway.api",
    "spark_gateway.services",
    "spark_gateway.db",
    "spark_gateway.backends",
    "spark_gateway.domain",
    "spark_gateway.settings",
]

BLOCKER = textwrap.dedent(
    """
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"{name} must not be imported by the client")
            return None

    sys.meta_path.insert(0, Refuse())
    """
)


def run_blocked(code: str, blocked: list[str]) -> subprocess.CompletedProcess[str]:
    program = f"BLOCKED = {blocked!r}\n{BLOCKER}\n{textwrap.dedent(code)}"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=60
    )


def test_the_client_needs_only_httpx_and_the_standard_library() -> None:
    result = run_blocked(
        """
        import spark_gateway.client as c
        with c.SparkGatewayClient("http://127.0.0.1:9") as gw:
            assert gw.batches and gw.applications
        print("ok")
        """,
        [*SERVER_ONLY, "typer", "rich", "click"],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_batch_and_app_commands_need_only_typer_and_rich_besides() -> None:
    result = run_blocked(
        """
        from spark_gateway.client.cli import batch_app, app_app
        print(batch_app.info.name, app_app.info.name)
        """,
        SERVER_ONLY,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["batch", "app"]


def test_the_blocker_does_refuse_server_packages() -> None:
    result = run_blocked("import spark_gateway.settings", SERVER_ONLY)
    assert result.returncode != 0 and "must not be imported by the client" in result.stderr
