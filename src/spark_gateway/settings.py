"""Configuration: one YAML file (the reference gateway's keys) plus environment overrides.

Built once by the CLI (`Settings.load`) and passed explicitly to `create_app(settings)`; nothing reads
configuration at import time. Unknown keys are errors, so a typo stops start-up with a message naming
the key instead of being silently ignored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import yaml
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from spark_gateway.domain.dicts import deep_merge
from spark_gateway.domain.errors import ConfigError
from spark_gateway.domain.ids import is_valid_short_id
from spark_gateway.domain.urls import check_template
from spark_gateway.middleware_settings import MiddlewareEntry, check_chain
from spark_gateway.webhook_settings import WebhooksConfig

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MANAGER_TOKEN_ENV = "SPARK_MANAGER_API_TOKEN"
MIN_TOKEN_LENGTH = 16


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _short_id(value: str) -> str:
    if not is_valid_short_id(value):
        raise ValueError("must be 1-12 lowercase letters or digits")
    return value


# Cluster and namespace ids are part of every gateway id (`domain.ids`).
ShortId = Annotated[str, AfterValidator(_short_id)]


class NamespaceConfig(_Strict):
    name: str
    id: ShortId
    routingWeight: float = Field(default=1.0, ge=0)


class LocalBackendConfig(_Strict):
    """The in-process `spark-submit` backend."""

    sparkMaster: str = "local[*]"
    sparkSubmit: str | None = None  # default: the one bundled with the installed pyspark
    sparkHome: str | None = None
    maxConcurrentJobs: int = Field(default=2, ge=1)
    allowedDirs: list[Path] = Field(default_factory=list)  # default: examples/ (never the data dir)
    sparkConf: dict[str, str] = Field(default_factory=dict)  # always added to every submission
    # Extra environment variables (names or glob patterns) jobs inherit besides the fixed allow-list;
    # the gateway's own secrets are never passed, whatever this says.
    passEnvironment: list[str] = Field(default_factory=list)
    killGracePeriodSeconds: float = Field(default=10.0, ge=0)
    pollIntervalSeconds: float = Field(default=0.5, gt=0)
    javaHome: str | None = None


class ClusterConfig(_Strict):
    name: str
    id: ShortId
    type: Literal["local", "kubernetes"] | None = None  # default: kubernetes if masterURL is set
    masterURL: str | None = None
    routingWeight: float = Field(default=1.0, ge=0)
    namespaces: list[NamespaceConfig] = Field(min_length=1)
    certificateAuthorityB64File: str | None = None
    local: LocalBackendConfig = Field(default_factory=LocalBackendConfig)

    @model_validator(mode="after")
    def _defaults(self) -> ClusterConfig:
        if self.type is None:
            self.type = "kubernetes" if self.masterURL else "local"
        ids = [ns.id for ns in self.namespaces]
        if len(set(ids)) != len(ids):
            raise ValueError(f"namespace ids must be unique within cluster '{self.name}'")
        return self

    def namespace_by_name(self, name: str) -> NamespaceConfig | None:
        return next((ns for ns in self.namespaces if ns.name == name), None)


RouterType = Literal["random", "weightBased", "weightBasedRandom"]


class PrometheusQuery(_Strict):
    metric: str = "spark_application_count"
    additionalLabels: dict[str, str] = Field(default_factory=dict)


class ClusterRouterConfig(_Strict):
    type: RouterType = "weightBasedRandom"
    fallbackType: RouterType = "weightBasedRandom"
    dimension: Literal["namespace", "cluster"] = "cluster"
    prometheusQuery: PrometheusQuery = Field(default_factory=PrometheusQuery)
    # SparkManager readiness checks (`GET /ready`) and metric scrapes made while routing
    healthCacheSeconds: float = Field(default=2.0, ge=0)  # how long a health result is reused
    requestTimeoutSeconds: float = Field(default=5.0, gt=0)


class StatusUrlTemplates(_Strict):
    """Go-template URLs rendered against each SparkApplication (`domain.urls`), checked at load."""

    sparkUI: str = ""
    sparkHistoryUI: str = ""
    logsUI: str = ""

    @field_validator("sparkUI", "sparkHistoryUI", "logsUI")
    @classmethod
    def _supported(cls, value: str) -> str:
        return check_template(value)


class AuthorizationConfig(_Strict):
    admins: list[str] = Field(default_factory=list)
    viewers: list[str] = Field(default_factory=list)
    protectHealth: bool = False
    protectDocs: bool = False
    protectMetrics: bool = False


class GatewayConfig(_Strict):
    host: str = "127.0.0.1"
    gatewayPort: int = Field(default=8080, ge=0, le=65535)
    middleware: list[MiddlewareEntry] = Field(default_factory=list)
    authorization: AuthorizationConfig = Field(default_factory=AuthorizationConfig)
    statusUrlTemplates: StatusUrlTemplates = Field(default_factory=StatusUrlTemplates)
    enableSwaggerUI: bool = True
    enableConsole: bool = True  # the web console under /ui
    sparkManagerHostnameTemplate: str = "localhost"
    sparkManagerTimeoutSeconds: float = Field(default=30.0, gt=0)  # gateway -> SparkManager calls
    maxRequestBodyBytes: int = Field(default=1024 * 1024, ge=1024)
    forbiddenSparkConf: list[str] = Field(default_factory=list)  # glob patterns, refused for everyone
    allowedSparkConf: list[str] = Field(default_factory=list)  # glob patterns of dangerous keys re-allowed
    # SparkApplication fields non-admins may set although they change identity or reach the host
    # (domain.spec_policy): glob patterns over field paths, e.g. spec.volumes.hostPath
    allowedSpecFields: list[str] = Field(default_factory=list)
    allowedServiceAccounts: list[str] = Field(default_factory=list)  # names anyone may run as
    auditLogFile: Path | None = None  # default: <dataDir>/audit.log

    @field_validator("allowedSpecFields")
    @classmethod
    def _field_paths(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern.startswith(("spec.", "metadata.")):
                raise ValueError(f"'{pattern}' is not a field path such as spec.volumes.hostPath")
        return value

    @model_validator(mode="after")
    def _middleware_chain(self) -> GatewayConfig:
        check_chain(self.middleware)
        return self


class DatabaseConfig(_Strict):
    """Where state lives. The seed's keys keep the seed's meaning: `enable: true` with `hostname`,
    `port`, `databaseName`, `username`, `password` is a PostgreSQL server. Without `enable` (or with
    `enable: false`) and without `driver`, the gateway keeps its state in an embedded SQLite file."""

    enable: bool | None = None  # the seed's switch: true (and no `driver`) means PostgreSQL
    url: str | None = None  # full SQLAlchemy URL; overrides everything below
    driver: Literal["sqlite", "postgresql"] | None = None  # default: see `enable`
    sqlitePath: Path | None = None  # default: <dataDir>/spark-gateway.db
    databaseName: str = "postgres"
    hostname: str = "127.0.0.1"
    port: int = Field(default=5432, ge=1, le=65535)
    username: str | None = None  # default: env DB_USERNAME, else "postgres"
    password: str | None = Field(default=None, repr=False)  # default: env DB_PASSWORD, else none
    poolSize: int = Field(default=10, ge=1)
    statementTimeoutSeconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _resolve(self) -> DatabaseConfig:
        if self.driver is None:
            self.driver = "postgresql" if self.enable else "sqlite"
        # Credentials are fields from here on: the environment is read once, when the file is loaded.
        self.username = self.username or os.environ.get("DB_USERNAME") or "postgres"
        self.password = self.password or os.environ.get("DB_PASSWORD") or None
        if self.driver == "postgresql" and self.url is None and not self.hostname:
            raise ValueError("hostname is required for a PostgreSQL database")
        return self


class LivyConfig(_Strict):
    # `enabled` is the reference Helm chart's spelling of the same key.
    enable: bool = Field(default=True, validation_alias=AliasChoices("enable", "enabled"))
    defaultNamespace: str = "default"
    dialect: Literal["livy", "spark-gateway"] = "livy"
    csrfProtection: bool = False
    sparkVersion: str = "4.0.0"
    rootPaths: bool = False  # also serve /batches, /sessions, /version at the root (as Apache Livy does)


class MetricsServerConfig(_Strict):
    port: int = 9090
    endpoint: str = "/metrics"


class DebugPorts(_Strict):
    sparkManagerPort: int | None = None
    metricsPort: int | None = None


class SparkManagerConfig(_Strict):
    clusterAuthType: Literal["kubeconfig", "serviceaccount"] = "kubeconfig"
    metricsServer: MetricsServerConfig = Field(default_factory=MetricsServerConfig)
    watchResyncSeconds: float = Field(default=300.0, gt=0)
    host: str = "127.0.0.1"  # listen address; 0.0.0.0 inside a cluster (behind a Service)
    watchTimeoutSeconds: int = Field(default=300, ge=1)  # server-side timeout of one watch request
    kubernetesTimeoutSeconds: float = Field(default=10.0, gt=0)
    statusWorkers: int = Field(default=4, ge=1)  # concurrent database writers
    logWorkers: int = Field(default=2, ge=1)  # concurrent copies of running drivers' logs
    logCaptureSeconds: float = Field(default=10.0, ge=0)  # driver log copy while running; 0: at the end only
    logCopiesPerSecond: float = Field(default=50.0, ge=0)  # running-log copies started a second; 0: no limit
    shutdownSeconds: float = Field(default=5.0, ge=0)  # pending status writes get this long on shutdown
    apiTokenFile: Path | None = None  # the bearer token of the manager API (else env SPARK_MANAGER_API_TOKEN)
    allowUnauthenticatedApi: bool = False  # run a manager without a token (trusted networks only)


class SessionsConfig(_Strict):
    """Livy interactive sessions: where their drivers reach the gateway, limits and timeouts."""

    # The URL session drivers use to reach the gateway; default http://127.0.0.1:<gatewayPort> (local
    # clusters). Kubernetes clusters need an address their pods can reach.
    gatewayUrl: str | None = None
    kubernetesRunnerFile: str = "local:///opt/spark-gateway/session_runner.py"  # in the driver image
    maxSessionsPerCluster: int = Field(default=20, ge=0)  # 0: no limit
    maxSessionsPerUser: int = Field(default=5, ge=0)  # 0: no limit
    idleTimeoutSeconds: float = Field(default=3600.0, ge=0)  # 0: never; a session's idleTimeout wins
    maxOutputBytes: int = Field(default=256 * 1024, ge=1024)  # text output kept per statement
    sqlMaxRows: int = Field(default=1000, ge=1)
    runnerGatewayTimeoutSeconds: float = Field(default=600.0, gt=0)  # driver exits when the gateway is gone
    reapIntervalSeconds: float = Field(default=5.0, gt=0)
    runnerLostSeconds: float = Field(default=300.0, gt=0)  # a driver silent this long is stopped
    longPollSeconds: float = Field(default=20.0, gt=0, le=60)


DEFAULT_LOG_LINES = 10_000


class RetentionConfig(_Strict):
    finishedDays: float | None = Field(default=None, gt=0)  # None: keep every application
    logLines: int | None = Field(default=None, ge=10)  # None: DEFAULT_LOG_LINES, only when written
    intervalSeconds: float = Field(default=3600.0, gt=0)
    batchSize: int = Field(default=1000, ge=1, le=10_000)

    @property
    def log_lines(self) -> int:
        """Driver log lines kept per application (trimmed when lines are written)."""
        return DEFAULT_LOG_LINES if self.logLines is None else self.logLines

    @property
    def enabled(self) -> bool:
        """Whether the periodic retention pass runs (in the holder of the `retention` lease)."""
        return self.finishedDays is not None or self.logLines is not None


class LeaseConfig(_Strict):
    ttlSeconds: float = Field(default=10.0, gt=0)
    renewIntervalSeconds: float = Field(default=3.0, gt=0)


def _default_clusters() -> list[ClusterConfig]:
    return [
        ClusterConfig(
            name="local", id="local", type="local", namespaces=[NamespaceConfig(name="default", id="dflt")]
        )
    ]


class Settings(BaseSettings):
    """The whole configuration file; environment variables `SPARK_GATEWAY_<KEY>` override it."""

    model_config = SettingsConfigDict(
        extra="forbid", env_prefix="SPARK_GATEWAY_", env_nested_delimiter="__", populate_by_name=True
    )

    clusters: list[ClusterConfig] = Field(default_factory=_default_clusters, min_length=1)
    clusterRouter: ClusterRouterConfig = Field(default_factory=ClusterRouterConfig)
    defaultLogLines: int = Field(default=100, ge=1)
    logRetentionLines: int | None = Field(default=None, ge=10)  # deprecated: retention.logLines
    mode: str = "release"
    selectorKey: str = "spark-gateway/managed-by"
    selectorValue: str = "spark-gateway"
    sparkManagerPort: int = 8090
    dataDir: Path = Path("data")
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    livy: LivyConfig = Field(default_factory=LivyConfig)
    sparkManager: SparkManagerConfig = Field(default_factory=SparkManagerConfig)
    debugPorts: dict[str, DebugPorts] = Field(default_factory=dict)
    lease: LeaseConfig = Field(default_factory=LeaseConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        ids = [c.id for c in self.clusters]
        if len(set(ids)) != len(ids):
            raise ValueError("clusters: cluster ids must be unique")
        names = [c.name for c in self.clusters]
        if len(set(names)) != len(names):
            raise ValueError("clusters: cluster names must be unique")
        old, new = self.logRetentionLines, self.retention.logLines
        if old is not None:
            if new is not None and new != old:
                raise ValueError(
                    f"logRetentionLines ({old}) is the deprecated name of retention.logLines ({new}): "
                    "give only retention.logLines"
                )
            self.retention.logLines = old
        return self

    def warnings(self) -> list[str]:
        """What loads but will not work as written: said at start-up and by `check-config`."""
        found = []
        if self.logRetentionLines is not None:
            found.append("logRetentionLines is deprecated: write retention.logLines instead")
        if self.livy.enable and not self.offers_namespace(self.livy.defaultNamespace):
            found.append(
                f"livy.defaultNamespace: no cluster offers namespace '{self.livy.defaultNamespace}': "
                "Livy requests that name no namespace will be refused with 400"
            )
        return found

    def offers_namespace(self, namespace: str) -> bool:
        return any(c.namespace_by_name(namespace) for c in self.clusters)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)

    @classmethod
    def load(cls, path: Path | str | None = None, **overrides: Any) -> Settings:
        """Read the YAML file (if any), apply overrides, validate; ConfigError names the bad key."""
        data: dict[str, Any] = {}
        if path is not None:
            try:
                loaded = yaml.safe_load(Path(path).read_text())
            except OSError as exc:
                raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
            except yaml.YAMLError as exc:
                raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from exc
            if loaded is None:
                loaded = {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"configuration file {path} must hold a mapping at the top level")
            data = loaded
        data = deep_merge(data, overrides)
        try:
            return cls(**data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc)) from exc

    # Derived values ----------------------------------------------------------------------------

    def database_url(self) -> str:
        db = self.database
        if db.url:
            return db.url
        if db.driver == "sqlite":
            path = db.sqlitePath or (self.dataDir / "spark-gateway.db")
            return f"sqlite+aiosqlite:///{Path(path).resolve()}"
        auth = quote(db.username or "postgres", safe="")
        if db.password:
            auth += ":" + quote(db.password, safe="")
        return f"postgresql+asyncpg://{auth}@{db.hostname}:{db.port}/{quote(db.databaseName, safe='')}"

    def cluster_by_id(self, cluster_id: str) -> ClusterConfig | None:
        return next((c for c in self.clusters if c.id == cluster_id), None)

    def cluster_by_name(self, name: str) -> ClusterConfig | None:
        return next((c for c in self.clusters if c.name == name), None)

    def selector(self) -> tuple[str, str] | None:
        return (self.selectorKey, self.selectorValue) if self.selectorKey and self.selectorValue else None

    def manager_api_token(self) -> str | None:
        """The SparkManager API's bearer token: `sparkManager.apiTokenFile`, else the environment
        variable SPARK_MANAGER_API_TOKEN; None when neither is set. The gateway sends it, managers
        require it."""
        path = self.sparkManager.apiTokenFile
        if path is not None:
            try:
                token = Path(path).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"sparkManager.apiTokenFile: cannot read {path}: {exc.strerror}") from exc
            where = f"sparkManager.apiTokenFile ({path})"
        else:
            token = os.environ.get(MANAGER_TOKEN_ENV, "").strip()
            where = MANAGER_TOKEN_ENV
            if not token:
                return None
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"{where}: the token must have at least {MIN_TOKEN_LENGTH} characters")
        return token

    def audit_log_path(self) -> Path:
        return self.gateway.auditLogFile or (self.dataDir / "audit.log")

    def secret_env_names(self) -> frozenset[str]:
        """Environment variables the configuration reads secrets from (`<name>Env` keys and `${VAR}`
        references in middleware conf, the SparkManager API token), besides the fixed ones: a job must
        never inherit them."""
        names: set[str] = {MANAGER_TOKEN_ENV}

        def visit(value: Any, key: str = "") -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    visit(v, str(k))
            elif isinstance(value, list):
                for item in value:
                    visit(item, key)
            elif isinstance(value, str):
                if key.endswith("Env"):
                    names.add(value)
                names.update(_ENV_REFERENCE.findall(value))

        for middleware in self.gateway.middleware:
            visit(middleware.conf.model_dump(mode="json"))
        return frozenset(names)


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem (`gateway.middleware[0].conf.alow: unknown key`); one line in all for one."""
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        if loc[:2] == ["gateway", "middleware"]:
            # As the security messages name entries: gateway.middleware[0].conf.allow[1]; without the
            # union's tag (the entry's type) that pydantic puts into the location.
            if len(loc) > 3 and isinstance(loc[3], str):
                del loc[3]
            key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        else:
            key = ".".join(str(part) for part in loc)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "union_tag_invalid":
            key += ".type"
            message = f"no builtin middleware with type [{err['ctx']['tag']}] (known: " + (
                f"{err['ctx']['expected_tags']})"
            )
        problems.append(f"{key}: {message}" if key and not message.startswith(key) else message)
    if len(problems) == 1:
        return f"invalid configuration: {problems[0]}"
    return "\n".join(["invalid configuration:", *(f"  {p}" for p in problems)])
