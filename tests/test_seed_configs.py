"""The reference gateway's own sample configurations, unchanged, as `spark-gateway check-config` loads them.

Someone moving from the reference gateway starts from these files (tests/data/seed-configs, origin in its
README). Each is refused, one clear line at a time naming the key to change — never a traceback — and
loads once the changes it asked for are made: the middleware must say where its authenticating proxy is
(`trustedProxies`, a deliberate refusal), and the samples' two Livy quirks must be fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from spark_gateway.cli import app

SEEDS = Path(__file__).resolve().parent / "data" / "seed-configs"
Change = Callable[[dict[str, Any]], None]


def trust_the_proxy(config: dict[str, Any]) -> None:
    config["gateway"]["middleware"][0]["conf"]["trustedProxies"] = ["10.0.0.0/8"]


def offered_namespace(config: dict[str, Any]) -> None:
    config["livy"]["defaultNamespace"] = "default"


def livy_enable_key(config: dict[str, Any]) -> None:
    config["livy"]["enable"] = config["livy"].pop("enabled")


def check_config(conf: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check-config", "--conf", str(conf)])
    return result.exit_code, str(result.output)


@pytest.mark.parametrize(
    ("name", "block", "changes", "cluster_line"),
    [
        (
            "gateway-config-dev.yaml",
            None,
            [
                ("gateway.middleware[0].conf.trustedProxies", trust_the_proxy),
                ("livy.defaultNamespace: no cluster offers namespace 'livy-namespace'", offered_namespace),
            ],
            "minikube [dflt, kubernetes]: default (dflt)",
        ),
        (
            "helm-values.yaml",
            "config",  # what the chart renders into the gateway's ConfigMap
            [
                ("gateway.middleware[0].conf.trustedProxies", trust_the_proxy),
                ("livy.enabled: unknown key", livy_enable_key),
            ],
            "default [dflt, kubernetes]: default (dflt)",
        ),
    ],
)
def test_a_reference_sample_says_what_to_change_and_then_loads(
    tmp_path: Path, name: str, block: str | None, changes: list[tuple[str, Change]], cluster_line: str
) -> None:
    loaded = yaml.safe_load((SEEDS / name).read_text())
    config: dict[str, Any] = loaded[block] if block else loaded
    conf = tmp_path / name
    for message, change in changes:
        conf.write_text(yaml.safe_dump(config))
        code, output = check_config(conf)
        assert code == 2 and message in output, output
        assert "Traceback" not in output
        change(config)
    conf.write_text(yaml.safe_dump(config))
    code, output = check_config(conf)
    assert code == 0, output
    assert cluster_line in output
