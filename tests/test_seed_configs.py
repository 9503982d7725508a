"""The reference gateway's own sample configurations, unchanged, as `spark-gateway check-config` loads them.

Someone moving from the reference gateway starts from these files (tests/data/seed-configs, origin in its
README). The only change a sample needs is the one deliberate security refusal — the middleware must say
where its authenticating proxy is (`trustedProxies`), said in one line, never a traceback. The samples'
Livy quirks load: `livy.enabled` is the Helm chart's spelling of `livy.enable`, and a
`livy.defaultNamespace` no cluster offers is a warning (and a 400 when a Livy request relies on it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from spark_gateway.cli import app

SEEDS = Path(__file__).resolve().parent / "data" / "seed-configs"


def trust_the_proxy(config: dict[str, Any]) -> None:
    config["gateway"]["middleware"][0]["conf"]["trustedProxies"] = ["10.0.0.0/8"]


def check_config(conf: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check-config", "--conf", str(conf)])
    return result.exit_code, str(result.output)


NAMESPACE_WARNING = "warning: livy.defaultNamespace: no cluster offers namespace 'livy-namespace'"


@pytest.mark.parametrize(
    ("name", "block", "cluster_line", "warned"),
    [
        ("gateway-config-dev.yaml", None, "minikube [dflt, kubernetes]: default (dflt)", True),
        (
            "helm-values.yaml",
            "config",  # what the chart renders into the gateway's ConfigMap
            "default [dflt, kubernetes]: default (dflt)",
            False,  # `livy.enabled: false`: its default namespace does not matter
        ),
    ],
)
def test_a_reference_sample_needs_only_trusted_proxies(
    tmp_path: Path, name: str, block: str | None, cluster_line: str, warned: bool
) -> None:
    loaded = yaml.safe_load((SEEDS / name).read_text())
    config: dict[str, Any] = loaded[block] if block else loaded
    conf = tmp_path / name
    conf.write_text(yaml.safe_dump(config))
    code, output = check_config(conf)
    assert code == 2 and "gateway.middleware[0].conf.trustedProxies" in output, output
    assert "Traceback" not in output
    trust_the_proxy(config)
    conf.write_text(yaml.safe_dump(config))
    code, output = check_config(conf)
    assert code == 0, output
    assert cluster_line in output
    assert (NAMESPACE_WARNING in output) is warned


def test_the_helm_spelling_livy_enabled_is_read_as_livy_enable(tmp_path: Path) -> None:
    conf = tmp_path / "on.yaml"
    conf.write_text("livy: {enabled: true, defaultNamespace: nowhere}\n")
    code, output = check_config(conf)
    assert code == 0, output
    assert "warning: livy.defaultNamespace: no cluster offers namespace 'nowhere'" in output

    conf.write_text("livy: {enabled: false, defaultNamespace: nowhere}\n")
    code, output = check_config(conf)
    assert code == 0 and "warning" not in output, output
