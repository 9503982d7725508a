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
from spark_gateway.domain.livy import LivyRequestFields, spark_application
from spark_gateway.domain.sparkapp import PodSpec, SparkApplication
from spark_gateway.domain.states import LivyState

LABEL_LIVY_SESSION_ID = "spark-gateway/livy-session-id"
SECRET_ENV = "SPARK_GATEWAY_SESSION_SECRET"  # matches spark.redaction.regex ("secret"): redacted in UIs

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


# The states a session reports: Livy's, but for `recovering` (Livy's recovery after a restart; nothing
# here needs it) and `running` (a batch's; a session running a statement is `busy`).
SESSION_STATES = tuple(s for s in LivyState if s not in (LivyState.RECOVERING, LivyState.RUNNING))


class StatementState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    AVAILABLE = "available"
    ERROR = "error"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class _SessionFields(BaseModel):
    kind: StrictStr = "shared"
    proxyUser: StrictStr | None = None


class LivySessionRequest(LivyRequestFields, _SessionFields):
    model_config = ConfigDict(extra="forbid")

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
    app = spark_application(
        request,
        namespace=namespace,
        spark_version=spark_version,
        app_type="Python",
        main_file=runner_file,
        main_class=None,
        arguments=arguments,
        proxy_user=request.proxyUser,
    )
    setattr(app.spec, "restartPolicy", {"type": "Never"})  # noqa: B010 (an extra field: no restarts, state would be lost)
    return app


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
