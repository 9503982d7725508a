"""Configuration: defaults, the reference gateway's keys, and errors that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_gateway.domain.errors import ConfigError
from spark_gateway.settings import Settings

REFERENCE_STYLE = """
clusters:
  - name: prod-east
    id: east
    masterURL: https://k8s.east.example
    routingWeight: 2.5
    namespaces:
      - name: spark
        id: spk
        routingWeight: 1
  - name: laptop
    id: local
    type: local
    namespaces:
      - name: spark
        id: spk
    local:
      maxConcurrentJobs: 3
clusterRouter:
  type: weightBasedRandom
  fallbackType: random
  dimension: cluster
defaultLogLines: 50
selectorKey: spark-gateway/env
selectorValue: prod
sparkManagerPort: 8090
gateway:
  gatewayPort: 9000
  enableSwaggerUI: false
  statusUrlTemplates:
    sparkUI: "{{.Status.DriverInfo.WebUIIngressAddress}}"
database:
  driver: postgresql
  hostname: db.example
  port: 5433
  databaseName: gateway
livy:
  enable: true
  defaultNamespace: spark
sparkManager:
  clusterAuthType: serviceaccount
  metricsServer: {port: 9090, endpoint: /metrics}
"""


def test_defaults_are_the_embedded_gateway() -> None:
    s = Settings.load()
    assert (s.gateway.host, s.gateway.gatewayPort) == ("127.0.0.1", 8080)
    [cluster] = s.clusters
    assert (cluster.name, cluster.id, cluster.type) == ("local", "local", "local")
    assert [(ns.name, ns.id) for ns in cluster.namespaces] == [("default", "dflt")]
    assert s.database_url().startswith("sqlite+aiosqlite:///")
    assert s.database_url().endswith("data/spark-gateway.db")
    assert s.livy.dialect == "livy"


def test_reference_style_file_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "gateway.yaml"
    conf.write_text(REFERENCE_STYLE)
    monkeypatch.setenv("DB_USERNAME", "svc")
    monkeypatch.setenv("DB_PASSWORD", "p@ss/word")
    s = Settings.load(conf)
    assert [c.type for c in s.clusters] == ["kubernetes", "local"]
    assert s.clusters[0].routingWeight == 2.5
    assert s.clusters[1].local.maxConcurrentJobs == 3
    assert s.database_url() == "postgresql+asyncpg://svc:p%40ss%2Fword@db.example:5433/gateway"
    assert s.selector() == ("spark-gateway/env", "prod")


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("gatway: {}", "gatway: unknown key"),
        ("clusters: [{name: a, id: Bad-Id, namespaces: [{name: default, id: d}]}]", "clusters.0.id"),
        (
            "clusters: [{name: a, id: a, namespaces: [{name: default, id: waytoolongid123}]}]",
            "clusters.0.namespaces.0.id",
        ),
        ("clusters: [{name: a, id: a, namespaces: []}]", "clusters.0.namespaces"),
        ("defaultLogLines: many", "defaultLogLines"),
        ("clusterRouter: {type: roundRobin}", "clusterRouter.type"),
    ],
)
def test_invalid_configuration_names_the_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    conf = tmp_path / "bad.yaml"
    conf.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        Settings.load(conf)
    assert key in str(info.value)


def test_unreadable_or_non_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.load(tmp_path / "missing.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        Settings.load(bad)


# The seed's own database block (config/gateway-config-dev.yaml, `enable` switched on as in production).
SEED_DATABASE = """
database:
  enable: true
  databaseName: "postgres"
  hostname: "localhost"
  port: 5432
  # DB_USERNAME env var is used if not present
  username: "postgres"
  # DB_PASSWORD env var is used if not present
  # password: ""
"""


def test_seed_database_block_means_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB_USERNAME", raising=False)
    monkeypatch.setenv("DB_PASSWORD", "from-env")
    conf = tmp_path / "gateway.yaml"
    conf.write_text(SEED_DATABASE)
    s = Settings.load(conf)
    assert s.database.driver == "postgresql"
    assert (s.database.username, s.database.password) == ("postgres", "from-env")
    assert s.database_url() == "postgresql+asyncpg://postgres:from-env@localhost:5432/postgres"
    assert "from-env" not in repr(s.database)


def test_database_disabled_or_absent_is_the_embedded_sqlite(tmp_path: Path) -> None:
    conf = tmp_path / "gateway.yaml"
    conf.write_text(SEED_DATABASE.replace("enable: true", "enable: false"))
    assert Settings.load(conf).database_url().startswith("sqlite+aiosqlite:///")
    assert Settings.load(database={"enable": True, "driver": "sqlite"}).database.driver == "sqlite"


def test_seed_database_without_hostname_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "gateway.yaml"
    conf.write_text(SEED_DATABASE.replace('hostname: "localhost"', 'hostname: ""'))
    with pytest.raises(ConfigError, match="database: hostname is required"):
        Settings.load(conf)


def test_status_url_template_with_an_unsupported_action_is_refused_at_load() -> None:
    with pytest.raises(ConfigError, match=r"gateway.statusUrlTemplates.logsUI: unsupported template action"):
        Settings.load(gateway={"statusUrlTemplates": {"logsUI": 'https://logs/{{printf "%s" .Name}}'}})
    ok = Settings.load(
        gateway={"statusUrlTemplates": {"logsUI": "logs.domain.com/'host:{{.ObjectMeta.Name}}-driver'"}}
    )
    assert ok.gateway.statusUrlTemplates.logsUI.endswith("-driver'")


@pytest.mark.parametrize(
    ("yaml_text", "lines", "periodic"),
    [
        ("{}", 10_000, False),  # bounded when written, nothing trimmed later
        ("retention: {logLines: 500}", 500, True),
        ("logRetentionLines: 500", 500, True),  # the deprecated spelling means the same
        ("logRetentionLines: 500\nretention: {logLines: 500}", 500, True),
    ],
)
def test_log_line_retention_and_its_deprecated_name(
    tmp_path: Path, yaml_text: str, lines: int, periodic: bool
) -> None:
    conf = tmp_path / "gateway.yaml"
    conf.write_text(yaml_text)
    s = Settings.load(conf)
    assert (s.retention.log_lines, s.retention.enabled) == (lines, periodic)
    deprecated = [w for w in s.warnings() if w.startswith("logRetentionLines")]
    assert len(deprecated) == ("logRetentionLines" in yaml_text)


def test_two_different_log_line_bounds_are_a_config_error(tmp_path: Path) -> None:
    conf = tmp_path / "gateway.yaml"
    conf.write_text("logRetentionLines: 500\nretention: {logLines: 200}\n")
    with pytest.raises(ConfigError) as info:
        Settings.load(conf)
    assert "logRetentionLines (500) is the deprecated name of retention.logLines (200)" in str(info.value)
    assert "Traceback" not in str(info.value)
