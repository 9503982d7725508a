"""Livy interactive sessions: request fields, kinds, time strings, states, and the driver application.

Field names, defaults and validation follow Apache Livy's `CreateInteractiveRequest`; kinds and
states are Livy's (`Kind.scala`, `SessionState.scala`, `StatementState.java`), plus the statement
state `error` for statements a dead session never ran.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from spark_gateway.domain.errors import BadRequest
from spark_gateway.domain.livy import ConfValue, conf_value_to_str
from spark_gateway.domain.sparkapp import (
    BatchSchedulerOptions,
    Dependencies,
    ExecutorSpec,
    ObjectMeta,
    PodSpec,
    SparkApplication,
    SparkApplicationSpec,
)

LABEL_LIVY_SESSION_ID = "spark-gateway/livy-session-id"
SECRET_ENV = "SPARK_GATEWAY_SESSION_SECRET"  # matches spark.redaction.regex ("secret"): redacted in UIs
PositiveInt = Annotated[StrictInt, Field(ge=1)]

# Every kind Livy accepts, mapped to its canonical name; only some of them run here.
KIND_ALIASES = {
    "spark": "spark",
    "scala": "spark",
    "pyspark": "pyspark",
    "python": "pyspark",
    "pyspark3": "pyspark",
    "sparkr": "sparkr",
    "r": "sparkr",
    "sql": "sql",
    "shared": "shared",
}
SESSION_KINDS = ("pyspark", "sql", "shared")
STATEMENT_KINDS = ("pyspark", "sql")


class SessionState(StrEnum):
    NOT_STARTED = "not_started"
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    SHUTTING_DOWN = "shutting_down"
    ERROR = "error"
    DEAD = "dead"
    KILLED = "killed"
    SUCCESS = "success"

    @property
    def is_active(self) -> bool:
        return self in (SessionState.NOT_STARTED, SessionState.STARTING, SessionState.IDLE, SessionState.BUSY)


class StatementState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    AVAILABLE = "available"
    ERROR = "error"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class LivySessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: StrictStr = "shared"
    proxyUser: StrictStr | None = None
    jars: list[StrictStr] = Field(default_factory=list)
    pyFiles: list[StrictStr] = Field(default_factory=list)
    files: list[StrictStr] = Field(default_factory=list)
    archives: list[StrictStr] = Field(default_factory=list)
    driverMemory: StrictStr | None = None
    driverCores: PositiveInt | None = None
    executorMemory: StrictStr | None = None
    executorCores: PositiveInt | None = None
    numExecutors: PositiveInt | None = None
    queue: StrictStr | None = None
    name: StrictStr | None = None
    conf: dict[str, ConfValue] = Field(default_factory=dict)
    heartbeatTimeoutInSecond: Annotated[StrictInt, Field(ge=0, le=10**9)] = 0
    ttl: StrictStr | None = None
    idleTimeout: StrictStr | None = None


class StatementRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: StrictStr
    kind: StrictStr | None = None


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: StrictStr
    kind: StrictStr | None = None
    cursor: Annotated[StrictInt, Field(ge=0)] | None = None


def session_kind(kind: str) -> str:
    """The canonical session kind; BadRequest names the supported ones."""
    canonical = KIND_ALIASES.get(kind.strip().lower())
    if canonical is None:
        raise BadRequest(f"Unknown kind '{kind}': supported kinds are {', '.join(SESSION_KINDS)}")
    if canonical not in SESSION_KINDS:
        raise BadRequest(
            f"Session kind '{kind}' is not supported by this gateway: use one of {', '.join(SESSION_KINDS)}"
        )
    return canonical


def statement_kind(requested: str | None, session: str) -> str:
    if requested is None:
        if session == "shared":
            raise BadRequest("Code type should be specified if session kind is shared")
        return session
    canonical = KIND_ALIASES.get(requested.strip().lower())
    if canonical not in STATEMENT_KINDS:
        raise BadRequest(
            f"Statement kind '{requested}' is not supported: use one of {', '.join(STATEMENT_KINDS)}"
        )
    return canonical


_TIME = re.compile(r"(-?[0-9]+)([a-z]+)?")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
MAX_TIME_SECONDS = 10 * 365 * 86400.0


def parse_time_string(value: str) -> float:
    """Seconds in a Livy time string (`30s`, `10m`, `2h`; no suffix = milliseconds), as Livy parses it."""
    match = _TIME.fullmatch(value.strip().lower())
    if match is None:
        raise BadRequest(f"Rejected, Reason: Invalid time string: {value}")
    number, suffix = int(match.group(1)), match.group(2) or "ms"
    if suffix not in _UNITS:
        raise BadRequest(f'Rejected, Reason: Invalid suffix: "{suffix}"')
    if number < 0:
        raise BadRequest(f"Rejected, Reason: Invalid value: {number}")
    return min(number * _UNITS[suffix], MAX_TIME_SECONDS)


def to_spark_application(
    request: LivySessionRequest, *, namespace: str, spark_version: str, runner_file: str, arguments: list[str]
) -> SparkApplication:
    """The session's driver: a Python application whose main file is the statement runner."""
    deps = Dependencies(
        jars=request.jars or None,
        files=request.files or None,
        pyFiles=request.pyFiles or None,
        archives=request.archives or None,
    )
    spec = SparkApplicationSpec(
        type="Python",
        mode="cluster",
        sparkVersion=spark_version,
        mainApplicationFile=runner_file,
        arguments=arguments,
        sparkConf={k: conf_value_to_str(v) for k, v in request.conf.items()} or None,
        deps=deps if deps.model_dump(exclude_none=True) else None,
        driver=PodSpec(
            cores=request.driverCores,
            coreLimit=str(request.driverCores) if request.driverCores else None,
            memory=request.driverMemory,
        ),
        executor=ExecutorSpec(
            cores=request.executorCores,
            coreLimit=str(request.executorCores) if request.executorCores else None,
            memory=request.executorMemory,
            instances=request.numExecutors,
        ),
        proxyUser=request.proxyUser,
        pythonVersion="3",
        batchSchedulerOptions=BatchSchedulerOptions(queue=request.queue) if request.queue else None,
    )
    setattr(spec, "restartPolicy", {"type": "Never"})  # noqa: B010 (an extra field: no restarts, state would be lost)
    return SparkApplication(metadata=ObjectMeta(name=request.name, namespace=namespace), spec=spec)


def with_secret_env(app: SparkApplication, secret: str) -> SparkApplication:
    """A copy whose driver carries the session secret in its environment (never stored)."""
    driver = app.spec.driver.model_copy()
    env = [e for e in (getattr(driver, "env", None) or []) if e.get("name") != SECRET_ENV]
    driver_data = driver.model_dump(exclude_none=True)
    driver_data["env"] = [*env, {"name": SECRET_ENV, "value": secret}]
    spec = app.spec.model_copy(update={"driver": PodSpec.model_validate(driver_data)})
    return app.model_copy(update={"spec": spec})


def secret_from_env(app: SparkApplication) -> str | None:
    for entry in getattr(app.spec.driver, "env", None) or []:
        if (
            isinstance(entry, dict)
            and entry.get("name") == SECRET_ENV
            and isinstance(entry.get("value"), str)
        ):
            return str(entry["value"])
    return None
