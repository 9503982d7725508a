"""OpenAPI descriptions of Livy session and statement responses (the routes build the JSON by hand)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spark_gateway.api.schemas import LivyAppInfo, LivyPage, _Closed, _Open
from spark_gateway.domain.sessions import SESSION_STATES, StatementState


class LivySessionAppInfo(LivyAppInfo):
    pass  # a batch's, under the name the OpenAPI document has always given it


class LivySession(_Closed):
    id: int
    name: str | None
    appId: str | None
    owner: str | None
    proxyUser: str | None
    state: str = Field(json_schema_extra={"enum": [s.value for s in SESSION_STATES]})
    kind: str
    appInfo: LivySessionAppInfo
    log: list[str]
    ttl: str | None
    idleTimeout: str | None
    driverMemory: str | None
    driverCores: int
    executorMemory: str | None
    executorCores: int
    conf: dict[str, Any]
    archives: list[str]
    files: list[str]
    heartbeatTimeoutInSecond: int
    jars: list[str]
    numExecutors: int
    pyFiles: list[str]
    queue: str | None


class LivySessionList(LivyPage):
    sessions: list[LivySession]


class LivySessionState(_Closed):
    id: int
    state: str = Field(json_schema_extra={"enum": [s.value for s in SESSION_STATES]})


class LivyStatement(_Closed):
    id: int
    code: str
    state: str = Field(json_schema_extra={"enum": [s.value for s in StatementState]})
    output: _Open | None
    progress: float = Field(ge=0, le=1)
    started: int
    completed: int


class LivyStatementList(_Closed):
    total_statements: int = Field(ge=0)
    statements: list[LivyStatement]


class LivyCompletion(_Closed):
    candidates: list[str]
