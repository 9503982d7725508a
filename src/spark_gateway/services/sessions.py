"""Livy interactive sessions: creating, reading, listing and deleting them, and stopping their drivers.

A session is an application like a batch (so admission, supervision, kill and log capture apply)
plus a `livy_sessions` row. Its driver runs the statement runner, which reaches the gateway through
`services.session_runner`; everything a session knows lives in the database, so any replica serves
it and a restart loses nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spark_gateway.backends.base import StatusUpdate, SupervisedBackend, TrackedApplication
from spark_gateway.db import repository as repo
from spark_gateway.db import session_repository as srepo
from spark_gateway.db.models import ApplicationRow, LivySessionRow, LivyStatementRow
from spark_gateway.domain.errors import BadRequest, NotFound
from spark_gateway.domain.records import ApplicationRecord, LogPage
from spark_gateway.domain.sessions import (
    LABEL_LIVY_SESSION_ID,
    LivySessionRequest,
    parse_time_string,
    session_kind,
    to_spark_application,
)
from spark_gateway.domain.sparkapp import SparkApplication, namespace_problem
from spark_gateway.domain.states import AppState, LivyState
from spark_gateway.services import applications as apps
from spark_gateway.services import livy_common
from spark_gateway.services.applications import Caller
from spark_gateway.services.gateway import GatewayRuntime
from spark_gateway.services.stored import application_record
from spark_gateway.services.transitions import apply_update
from spark_gateway.settings import ClusterConfig, Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


RUNNER_FILE = Path(__file__).resolve().parents[1] / "session_runner" / "runner.py"
RECENT_LOG_LINES = 10
SOURCE = "livy-session"


@dataclass
class SessionView:
    session_id: int
    kind: str
    state: str
    request: dict[str, Any]
    heartbeat_timeout_s: int
    record: ApplicationRecord
    recent_log: list[str] = field(default_factory=list)


def ensure_can_view(gateway: GatewayRuntime, caller: Caller, app: ApplicationRow, ref: str) -> None:
    """Another user's session does not exist for the caller (as for batches): Livy's 404."""
    try:
        apps.ensure_can_view(gateway, caller, application_record(app))
    except NotFound:
        raise livy_common.not_found(ref) from None


def ensure_can_modify(gateway: GatewayRuntime, caller: Caller, app: ApplicationRow, ref: str) -> None:
    try:
        apps.ensure_can_modify(gateway, caller, application_record(app))
    except NotFound:
        raise livy_common.not_found(ref) from None


def gateway_url(settings: Settings) -> str:
    """Where a local driver reaches this gateway (sessions.gatewayUrl when set)."""
    if settings.sessions.gatewayUrl:
        return settings.sessions.gatewayUrl.rstrip("/")
    host = settings.gateway.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.gateway.gatewayPort}"


def runner_arguments(settings: Settings, session_id: int) -> list[str]:
    conf = settings.sessions
    return [
        "--gateway",
        gateway_url(settings),
        "--session",
        str(session_id),
        "--max-output",
        str(conf.maxOutputBytes),
        "--max-body",
        str(settings.gateway.maxRequestBodyBytes),
        "--sql-max-rows",
        str(conf.sqlMaxRows),
        "--gateway-timeout",
        str(conf.runnerGatewayTimeoutSeconds),
    ]


def runner_file(cluster: ClusterConfig, settings: Settings) -> str:
    return str(RUNNER_FILE) if cluster.type == "local" else settings.sessions.kubernetesRunnerFile


def parse_request(payload: object) -> LivySessionRequest:
    request = livy_common.validated(LivySessionRequest, payload)
    request.kind = session_kind(request.kind)
    livy_common.check_name(request.name)
    livy_common.check_length("name", request.name)
    livy_common.check_length("proxyUser", request.proxyUser)
    return request


async def create_session(
    gateway: GatewayRuntime, caller: Caller, payload: object, *, namespace: str | None
) -> SessionView:
    request = parse_request(payload)
    ttl_s = parse_time_string(request.ttl) if request.ttl is not None else None
    idle_s = parse_time_string(request.idleTimeout) if request.idleTimeout is not None else None
    namespace = gateway.settings.livy.defaultNamespace if namespace is None else namespace
    if problem := namespace_problem(namespace):
        raise BadRequest(problem)
    limits = gateway.settings.sessions
    if limits.maxSessionsPerUser and caller.user is not None:
        async with gateway.db.transaction() as session:
            if await srepo.count_active(session, user=caller.user) >= limits.maxSessionsPerUser:
                raise BadRequest(
                    f"Rejected, too many sessions: user '{caller.user}' has {limits.maxSessionsPerUser} "
                    "active sessions (sessions.maxSessionsPerUser); delete one first"
                )
    app = to_spark_application(
        request,
        namespace=namespace,
        spark_version=gateway.settings.livy.sparkVersion or livy_common.default_spark_version(),
        runner_file=str(RUNNER_FILE),  # replaced per cluster once the cluster is chosen
        arguments=[],
    )
    created: dict[str, int] = {}

    async def add_session(
        session: AsyncSession, row: ApplicationRow, final: SparkApplication
    ) -> SparkApplication:
        cluster = gateway.cluster(row.cluster_id)
        if limits.maxSessionsPerCluster and (
            await srepo.count_active(session, cluster_id=row.cluster_id) >= limits.maxSessionsPerCluster
        ):
            raise BadRequest(
                f"Rejected, too many sessions: cluster '{cluster.name}' runs {limits.maxSessionsPerCluster} "
                "sessions (sessions.maxSessionsPerCluster); try again later"
            )
        now = repo.utcnow()
        session_id = await srepo.allocate_session(
            session,
            {
                "gateway_id": row.gateway_id,
                "kind": request.kind,
                "request": request.model_dump(exclude={"kind"}),
                "state": LivyState.STARTING.value,
                "heartbeat_timeout_s": request.heartbeatTimeoutInSecond,
                "ttl_s": ttl_s,
                "idle_timeout_s": idle_s,
                "next_statement_id": 0,
                "created_at": now,
                "last_activity_at": now,
                "last_access_at": now,
            },
        )
        if session_id > livy_common.MAX_BATCH_ID:
            raise BadRequest("no more session ids")
        created["id"] = session_id
        labels = {**final.metadata.labels, LABEL_LIVY_SESSION_ID: str(session_id)}
        metadata = final.metadata.model_copy(update={"labels": labels})
        if request.name is None:
            metadata.annotations = {**metadata.annotations, "applicationName": f"livy-session-{session_id}"}
        spec = final.spec.model_copy(
            update={
                "mainApplicationFile": runner_file(cluster, gateway.settings),
                "arguments": runner_arguments(gateway.settings, session_id),
            }
        )
        return final.model_copy(update={"metadata": metadata, "spec": spec})

    await apps.create_application(gateway, caller, app, source=SOURCE, on_insert=add_session)
    return await get_session(gateway, caller, str(created["id"]))


def reported_state(srow: LivySessionRow, app: ApplicationRow, busy: bool) -> str:
    """The state Livy would show: busy while statements are open; dead once the driver has ended."""
    state = LivyState(srow.state)
    app_state = AppState.parse(app.state)
    if state.is_active and (app_state.is_terminal or app_state == AppState.SUBMISSION_FAILED):
        return (LivyState.KILLED if app.error_message == apps.KILLED_MESSAGE else LivyState.DEAD).value
    if state == LivyState.IDLE and busy:
        return LivyState.BUSY.value
    return state.value


def _view(gateway: GatewayRuntime, srow: LivySessionRow, app: ApplicationRow, busy: bool) -> SessionView:
    return SessionView(
        session_id=srow.session_id,
        kind=srow.kind,
        state=reported_state(srow, app, busy),
        request=dict(srow.request or {}),
        heartbeat_timeout_s=srow.heartbeat_timeout_s,
        record=apps.with_urls(gateway, application_record(app)),
    )


async def resolve(
    gateway: GatewayRuntime, session: AsyncSession, caller: Caller, ref: str, *, for_update: bool = False
) -> tuple[LivySessionRow, ApplicationRow]:
    """A session by id or (as Livy allows) by name; NotFound in Livy's words."""
    return await livy_common.find(
        gateway,
        caller,
        ref,
        lambda number: srepo.get_session(session, number, for_update=for_update),
        lambda name, owner: srepo.get_session_by_name(session, name, owner),
    )


async def get_session(
    gateway: GatewayRuntime, caller: Caller, ref: str, *, with_log: bool = True, heartbeat: bool = True
) -> SessionView:
    """A session as its caller may see it. The console reads with `heartbeat=False`: a page left
    open in a browser must not keep an abandoned session alive."""
    async with gateway.db.transaction() as session:
        srow, app = await resolve(gateway, session, caller, ref)
        view = _view(gateway, srow, app, bool(await srepo.busy_session_ids(session, [srow.session_id])))
        ensure_can_view(gateway, caller, app, ref)
        if with_log:
            view.recent_log = (await repo.recent_logs(session, [app.gateway_id], RECENT_LOG_LINES))[
                app.gateway_id
            ]
        if heartbeat:
            await _heartbeat(session, srow)
    return view


async def _heartbeat(session: AsyncSession, srow: LivySessionRow) -> None:
    """Any request naming a session with a heartbeat timeout keeps it alive (Livy's SessionHeartbeat)."""
    if srow.heartbeat_timeout_s > 0:
        await srepo.touch(session, srow.session_id, last_access_at=repo.utcnow())


async def list_sessions(
    gateway: GatewayRuntime, caller: Caller, *, offset: int, size: int
) -> tuple[int, list[SessionView]]:
    async with gateway.db.transaction() as session:
        rows, total = await srepo.list_sessions(
            session,
            offset=livy_common.page_offset(offset),
            limit=min(size, livy_common.MAX_PAGE),
            owner=gateway.access.visible_owner_filter(caller.user),
        )
        busy = await srepo.busy_session_ids(session, [s.session_id for s, _ in rows])
        logs = await repo.recent_logs(session, [a.gateway_id for _, a in rows], RECENT_LOG_LINES)
    views = [_view(gateway, s, a, s.session_id in busy) for s, a in rows]
    for view in views:
        view.recent_log = logs[view.record.gateway_id]
    return total, views


async def session_log(
    gateway: GatewayRuntime, caller: Caller, ref: str, *, offset: int | None, size: int
) -> tuple[SessionView, LogPage]:
    view = await get_session(gateway, caller, ref, with_log=False)
    return view, await livy_common.log_page(gateway, view.record.gateway_id, offset=offset, size=size)


async def delete_session(gateway: GatewayRuntime, caller: Caller, ref: str) -> None:
    """Stop the driver and remove the session (Livy: 404 afterwards)."""
    async with gateway.db.transaction() as session:
        srow, app = await resolve(gateway, session, caller, ref)
        ensure_can_modify(gateway, caller, app, ref)
        session_id, gateway_id = srow.session_id, app.gateway_id
        await _end(session, srow, LivyState.SHUTTING_DOWN, "deleted by user")
    try:
        await apps.delete_application(gateway, caller, gateway_id)
    except NotFound:
        raise livy_common.not_found(ref) from None
    await finish(gateway, session_id, LivyState.KILLED, "deleted by user")


FINAL_STATES = frozenset({LivyState.ERROR, LivyState.DEAD, LivyState.KILLED, LivyState.SUCCESS})


async def _end(session: AsyncSession, srow: LivySessionRow, state: LivyState, reason: str) -> None:
    if LivyState(srow.state) in FINAL_STATES:
        return
    srow.state = state.value
    srow.ended_reason = srow.ended_reason or reason
    if state != LivyState.SHUTTING_DOWN:
        for statement in await srepo.open_statements(session, srow.session_id):
            fail_statement(statement, f"Session {state.value}: {reason}")
    await session.flush()


def fail_statement(statement: LivyStatementRow, message: str) -> None:
    statement.state = "error"
    statement.output = json.dumps(
        {
            "status": "error",
            "execution_count": statement.statement_id,
            "ename": "SessionEnded",
            "evalue": message,
            "traceback": [],
        }
    )
    statement.completed_ms = now_ms()


def now_ms() -> int:
    return int(repo.utcnow().timestamp() * 1000)


async def finish(gateway: GatewayRuntime, session_id: int, state: LivyState, reason: str) -> None:
    """Record a session's final state, failing statements it will never run."""
    async with gateway.db.transaction() as session:
        found = await srepo.get_session_including_deleted(session, session_id)
        if found is None:
            return
        await _end(session, found, state, reason)


async def stop_session(gateway: GatewayRuntime, session_id: int, reason: str) -> None:
    """Stop a session's driver but keep the session visible as `dead`, with the reason in its log."""
    async with gateway.db.transaction() as session:
        found = await srepo.get_session(session, session_id, for_update=True)
        if found is None:
            return
        srow, app = found
        await _end(session, srow, LivyState.SHUTTING_DOWN, reason)
        await repo.append_log_lines(
            session,
            app.gateway_id,
            [f"spark-gateway: session stopped: {reason}"],
            keep=gateway.settings.retention.log_lines,
        )
        tracked = TrackedApplication(
            gateway_id=app.gateway_id,
            namespace=app.namespace,
            state=AppState.parse(app.state),
            backend_ref=dict(app.backend_ref or {}),
            app=SparkApplication.model_validate(app.spec),
        )
        launched = tracked.state not in (AppState.NEW, AppState.COMPLETED, AppState.FAILED)
    backend = gateway.backend(app.cluster_id)
    if launched or not isinstance(backend, SupervisedBackend):
        await backend.kill(tracked)
    async with gateway.db.transaction() as session:
        row = await repo.get_application(session, tracked.gateway_id, include_deleted=True, for_update=True)
        if row is not None and not AppState.parse(row.state).is_terminal:
            await apply_update(
                session, row, StatusUpdate(tracked.gateway_id, AppState.FAILED, error_message=reason)
            )
    await finish(gateway, session_id, LivyState.DEAD, reason)
