"""`check-config` refuses exactly what `serve` refuses, with one line naming the key, never a traceback.

Both commands run through the real CLI (in this process: a refused configuration never starts a
server; the seed cases run `serve` as a real process too). The refusals that matter for security: an entry that would take
a user name on a client's word (HeaderAuth without `trustedProxies`, or a chain such as the seed's in
which only an allow list could name the user) stops start-up and says which key to set. The reference
seed configurations keep loading once `trustedProxies` says where their authenticating proxy is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from spark_gateway import cli
from tests.e2e.auth_setup import basic_auth, header_auth
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e
SEEDS = REPO / "tests" / "data" / "seed-configs"
SEED_CHAIN_REFUSAL = "gateway.middleware[0].conf.trustedProxies"


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def run(command: str, conf: Path, *, process: bool = False) -> Outcome:
    args = [command, "--conf", str(conf), *(["--port", "0"] if command == "serve" else [])]
    if process:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        done = subprocess.run(
            [sys.executable, "-m", "spark_gateway", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=conf.parent,
            timeout=120,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)
    result = CliRunner().invoke(cli.app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def refusal(conf: Path, *, process: bool = False) -> str:
    """The one line both commands print; asserts they agree and exit 2."""
    checked, served = run("check-config", conf), run("serve", conf, process=process)
    for result in (checked, served):
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
    line = checked.stderr.strip()
    assert len(line.splitlines()) == 1, line
    # The same refusal (serve, which tries to open the audit file, may add the OS's reason).
    assert served.stderr.strip().splitlines()[-1].startswith(line)
    return line


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    conf = tmp_path / "gateway.yaml"
    conf.write_text(yaml.safe_dump({"dataDir": str(tmp_path / "data"), **config}))
    return conf


@pytest.mark.parametrize(
    ("middleware", "expected"),
    [
        ([{"type": "HeaderAuthMiddleware", "conf": {"headers": [{"key": "X-User"}]}}], SEED_CHAIN_REFUSAL),
        (
            [{"type": "RegexBasicAuthAllowMiddleware", "conf": {"allow": ["gateway-user"]}}],
            SEED_CHAIN_REFUSAL,
        ),
        (
            [{"type": "RegexBasicAuthDenyMiddleware", "conf": {"deny": ["bob"]}}],
            "no entry can establish a user",
        ),
        ([header_auth([])], "gateway.middleware[0].conf.trustedProxies: list at least one network"),
        ([header_auth(["300.0.0.0/8"])], "gateway.middleware[0].conf.trustedProxies[0]"),
        (
            [{"type": "RegexBasicAuthAllowMiddleware", "conf": {"alow": ["x"]}}],
            "gateway.middleware[0].conf.alow: unknown key",
        ),
        (
            [{"type": "NoSuchMiddleware"}],
            "gateway.middleware[0].type: no builtin middleware with type [NoSuchMiddleware]",
        ),
        (
            [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": "/nonexistent"}}],
            "gateway.middleware[0].conf.htpasswdFile: cannot read",
        ),
    ],
)
def test_bad_chains_are_refused_by_both_commands(
    tmp_path: Path, middleware: list[dict[str, Any]], expected: str
) -> None:
    line = refusal(write(tmp_path, {"gateway": {"middleware": middleware}}))
    assert line.startswith("spark-gateway: invalid configuration: ") or "cannot read" in line
    assert expected in line


def test_a_later_header_entry_needs_trusted_proxies_too(tmp_path: Path) -> None:
    unsafe = {"type": "HeaderAuthMiddleware", "conf": {"headers": [{"key": "X-User"}]}}
    line = refusal(write(tmp_path, {"gateway": {"middleware": [basic_auth(tmp_path), unsafe]}}))
    assert "gateway.middleware[1].conf.trustedProxies" in line


def test_an_unwritable_audit_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    conf = write(tmp_path, {"gateway": {"auditLogFile": str(tmp_path / "a-file" / "audit.log")}})
    assert "gateway.auditLogFile: cannot write" in refusal(conf)


def seed(name: str) -> dict[str, Any]:
    """A seed file as it is (see tests/data/seed-configs/README.md): only trustedProxies is missing."""
    loaded = yaml.safe_load((SEEDS / name).read_text())
    config: dict[str, Any] = loaded.get("config", loaded)
    return config


@pytest.mark.parametrize("name", ["gateway-config-dev.yaml", "helm-values.yaml"])
def test_seed_configs_say_what_to_add_and_then_load(tmp_path: Path, name: str) -> None:
    config = seed(name)
    assert config["gateway"]["middleware"][0]["type"] == "RegexBasicAuthAllowMiddleware"
    line = refusal(write(tmp_path, config), process=True)
    assert SEED_CHAIN_REFUSAL in line and "authenticating proxy" in line

    config["gateway"]["middleware"][0]["conf"]["trustedProxies"] = ["10.0.0.0/8"]
    checked = run("check-config", write(tmp_path, config))
    assert checked.returncode == 0, checked.stderr
    assert "[dflt, kubernetes]" in checked.stdout
