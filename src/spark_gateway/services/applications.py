"""Submitting, reading, and deleting applications: the logic shared by the Livy and native APIs.

A create is one transaction: the application row (and, for Livy, its batch id) is committed before the
caller hears 201. Clusters the gateway supervises itself (local) pick the stored application up from
the queue; clusters behind a SparkManager get it submitted before the response.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from spark_gateway.backends.base import StatusUpdate, TrackedApplication
from spark_gateway.db import repository as repo
from spark_gateway.db.models import ApplicationRow
from spark_gateway.domain.errors import BadRequest, Forbidden, GatewayError, NotFound
from spark_gateway.domain.ids import new_gateway_id, parse_gateway_id
from spark_gateway.domain.records import ApplicationRecord, LogPage
from spark_gateway.domain.sparkapp import SparkApplication, metadata_problems, stamp
from spark_gateway.domain.states import AppState
from spark_gateway.domain.urls import render
from spark_gateway.services.runtime import GatewayRuntime
from spark_gateway.services.spec_checks import enforce_spec_policy
from spark_gateway.services.tracking import apply_update, to_record

log = logging.getLogger(__name__)

KILLED_MESSAGE = "killed by user"
# One log page (Livy `size`, v1 `lines`) never holds more lines than this; a larger size is clamped.
MAX_LOG_LINES = 10_000
# A v1 list page holds at most this many applications; `limit` + `continue` page past it
# (services/pages.py).
V1_LIST_LIMIT = 100
MAX_STORED_KEY = 300  # the size of the idempotency_key column


@dataclass(frozen=True)
class Caller:
    """Who is asking: the authenticated user (None when authentication is off)."""

    user: str | None = None


def scope_idempotency_key(user: str | None, source: str, key: str) -> str:
    """The stored form of an Idempotency-Key: per user and API, so nobody replays another's request;
    hashed when a long user name and key would not fit the column."""
    scoped = f"{user or ''}\x1f{source}\x1f{key}"
    if len(scoped) <= MAX_STORED_KEY:
        return scoped
    return "sha256:" + hashlib.sha256(scoped.encode("utf-8")).hexdigest()


def check_conf(rt: GatewayRuntime, caller: Caller, app: SparkApplication) -> None:
    """The configuration rules of `domain.conf_policy`; only authenticated admins are privileged (with
    no authentication configured there are no admins)."""
    privileged = rt.access.auth_enabled and rt.access.is_admin(caller.user)
    rt.conf_policy.check_application(app, privileged=privileged)


def with_urls(rt: GatewayRuntime, record: ApplicationRecord) -> ApplicationRecord:
    templates = rt.settings.gateway.statusUrlTemplates
    app = record.spark_application()
    driver = record.status.get("driverInfo") or {}
    record.urls = {
        "sparkUI": render(templates.sparkUI, app) or driver.get("webUIAddress"),
        "sparkHistoryUI": render(templates.sparkHistoryUI, app),
        "logsUI": render(templates.logsUI, app),
    }
    return record


async def create_application(
    rt: GatewayRuntime,
    caller: Caller,
    app: SparkApplication,
    *,
    source: str = "v1",
    livy: bool = False,
    idempotency_key: str | None = None,
) -> ApplicationRecord:
    namespace = app.metadata.namespace
    if not namespace:
        raise BadRequest("submitted SparkApplication must have a Namespace")
    if problems := metadata_problems(app):
        raise BadRequest("; ".join(problems))
    # The spec policy first: where both refuse a key, its message names the Livy field (`conf.<key>`).
    enforce_spec_policy(rt, caller.user, app, livy=livy)
    check_conf(rt, caller, app)
    proxy_user = rt.access.resolve_proxy_user(caller.user, app.spec.proxyUser)
    scoped_key = scope_idempotency_key(caller.user, source, idempotency_key) if idempotency_key else None
    if scoped_key and (original := await _original(rt, scoped_key)) is not None:
        return original

    cluster = await rt.routing.choose(namespace)
    ns_config = cluster.namespace_by_name(namespace)
    assert ns_config is not None  # the router only offers clusters with this namespace
    backend = rt.backend(cluster.id)
    gateway_id = new_gateway_id(cluster.id, ns_config.id)

    def stamped(batch_id: int | None) -> SparkApplication:
        return stamp(
            app,
            gateway_id=gateway_id,
            cluster_name=cluster.name,
            user=caller.user,
            proxy_user=proxy_user,
            selector=rt.settings.selector(),
            livy_batch_id=batch_id,
        )

    final = stamped(None)
    backend.validate(final)
    now = repo.utcnow()
    try:
        async with rt.db.transaction() as session:
            row = ApplicationRow(
                gateway_id=gateway_id,
                cluster_id=cluster.id,
                cluster_name=cluster.name,
                namespace=namespace,
                owner=caller.user,
                proxy_user=proxy_user,
                name=app.metadata.name,
                source=source,
                spec=final.to_k8s(),
                status={"applicationState": {"state": ""}, "driverInfo": {}},
                state="",
                backend_ref={},
                created_at=now,
                updated_at=now,
                idempotency_key=scoped_key,
            )
            await repo.insert_application(session, row)
            batch_id = None
            if livy:
                batch_id = await repo.allocate_batch_id(session, gateway_id)
                final = stamped(batch_id)
                row.spec = final.to_k8s()
                await session.flush()
            record = to_record(row, batch_id)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key committed first (the unique key refused
        # this one): answer with the original, exactly as for a sequential retry.
        if scoped_key is None or (original := await _original(rt, scoped_key)) is None:
            raise
        return original

    if backend.needs_supervisor:
        rt.wake(cluster.id)
        return with_urls(rt, record)
    return with_urls(rt, await _submit_now(rt, record, final))


async def _original(rt: GatewayRuntime, scoped_key: str) -> ApplicationRecord | None:
    """The application an earlier request with this scoped Idempotency-Key created, if any."""
    async with rt.db.transaction() as session:
        existing = await repo.get_by_idempotency_key(session, scoped_key)
        if existing is None:
            return None
        return with_urls(rt, to_record(existing, await repo.batch_id_for(session, existing.gateway_id)))


async def _submit_now(
    rt: GatewayRuntime, record: ApplicationRecord, app: SparkApplication
) -> ApplicationRecord:
    """Hand the stored application to its SparkManager; a refusal removes it again."""
    backend = rt.backend(record.cluster_id)
    try:
        result = await backend.submit(app)
    except GatewayError as exc:
        async with rt.db.transaction() as session:
            row = await repo.get_application(session, record.gateway_id, for_update=True)
            if row is not None:
                await apply_update(
                    session,
                    row,
                    StatusUpdate(
                        record.gateway_id, AppState.FAILED, error_message=f"submission failed: {exc}"
                    ),
                )
                await repo.mark_deleted(session, record.gateway_id)
        raise
    async with rt.db.transaction() as session:
        row = await repo.get_application(session, record.gateway_id, include_deleted=True, for_update=True)
        assert row is not None
        result.update.backend_ref = result.backend_ref
        if result.update.state == AppState.NEW and AppState.parse(row.state) != AppState.NEW:
            # The SparkManager's watch has recorded progress already: keep it, add the reference.
            await repo.save(session, row, backend_ref={**(row.backend_ref or {}), **result.backend_ref})
        else:
            await apply_update(session, row, result.update)
        return to_record(row, record.batch_id)


async def _load(rt: GatewayRuntime, gateway_id: str) -> ApplicationRecord:
    parsed = parse_gateway_id(gateway_id)
    rt.cluster(parsed.cluster_id)
    row = await rt.db.read(lambda conn: repo.read_application(conn, gateway_id))
    if row is None:
        raise NotFound(f"application '{gateway_id}' not found")
    return to_record(row, row.batch_id)


def ensure_can_view(rt: GatewayRuntime, caller: Caller, record: ApplicationRecord) -> None:
    """Another user's application does not exist for the caller: the same 404 as a missing one."""
    if not rt.access.can_view(caller.user, record.owner, record.proxy_user):
        raise NotFound(f"application '{record.gateway_id}' not found")


def ensure_can_modify(rt: GatewayRuntime, caller: Caller, record: ApplicationRecord) -> None:
    ensure_can_view(rt, caller, record)
    if not rt.access.can_modify(caller.user, record.owner, record.proxy_user):
        raise Forbidden(f"User '{caller.user}' is not allowed to modify '{record.gateway_id}'.")


async def get_application(rt: GatewayRuntime, caller: Caller, gateway_id: str) -> ApplicationRecord:
    record = await _load(rt, gateway_id)
    ensure_can_view(rt, caller, record)
    return with_urls(rt, record)


def tracked(record: ApplicationRecord, row: ApplicationRow | None = None) -> TrackedApplication:
    return TrackedApplication(
        gateway_id=record.gateway_id,
        namespace=record.namespace,
        state=record.state,
        backend_ref=(row.backend_ref if row is not None else {}) or {},
        app=SparkApplication.model_validate(record.spec),
    )


async def application_logs(rt: GatewayRuntime, caller: Caller, gateway_id: str, lines: int) -> list[str]:
    """The last `lines` driver log lines: live from the cluster while running, else as stored."""
    if lines < 0:
        raise BadRequest("lines must be greater than or equal to 0")
    lines = min(lines, MAX_LOG_LINES)
    record = await _load(rt, gateway_id)
    ensure_can_view(rt, caller, record)
    backend = rt.backend(record.cluster_id)
    if not record.state.is_terminal and record.state != AppState.NEW and not backend.needs_supervisor:
        async with rt.db.transaction() as session:
            row = await repo.get_application(session, gateway_id)
        try:
            live = await backend.logs(tracked(record, row), lines)
        except GatewayError as exc:
            log.info("live logs of %s unavailable (%s); serving stored log", gateway_id, exc)
            live = None
        if live is not None:
            return live
    page = await read_log_page(rt, gateway_id, offset=None, size=lines)
    return page.lines


async def read_log_page(rt: GatewayRuntime, gateway_id: str, *, offset: int | None, size: int) -> LogPage:
    """Livy log semantics over the stored log: no offset (or < 0) means the last `size` lines; a
    negative size means all of them; at most `MAX_LOG_LINES` either way."""

    async def reads(conn: AsyncConnection) -> LogPage:
        bounds = await repo.log_bounds(conn, gateway_id)
        total = 0 if bounds is None else bounds[1] - bounds[0] + 1
        page_size = min(total if size < 0 else size, MAX_LOG_LINES)
        start = max(0, total - page_size) if offset is None or offset < 0 else offset
        lines = await repo.read_log(conn, gateway_id, offset=start, size=page_size, bounds=bounds)
        return LogPage(offset=start, total=total, lines=lines)

    return await rt.db.read(reads)


async def delete_application(rt: GatewayRuntime, caller: Caller, gateway_id: str) -> None:
    """Kill the application (and everything it started), then remove it from view."""
    record = await _load(rt, gateway_id)
    ensure_can_modify(rt, caller, record)
    async with rt.db.transaction() as session:
        row = await repo.get_application(session, gateway_id, for_update=True)
        if row is None:
            raise NotFound(f"application '{gateway_id}' not found")
        launched = AppState.parse(row.state) not in (AppState.NEW, AppState.COMPLETED, AppState.FAILED)
        ref = dict(row.backend_ref or {})
    backend = rt.backend(record.cluster_id)
    # Behind a SparkManager the object exists from the submission on, whatever its state: delete it.
    if launched or not backend.needs_supervisor:
        await backend.kill(
            TrackedApplication(
                gateway_id=record.gateway_id,
                namespace=record.namespace,
                state=record.state,
                backend_ref=ref,
                app=SparkApplication.model_validate(record.spec),
            )
        )
    async with rt.db.transaction() as session:
        row = await repo.get_application(session, gateway_id, include_deleted=True, for_update=True)
        if row is None:
            return
        if not AppState.parse(row.state).is_terminal:
            await apply_update(
                session, row, StatusUpdate(gateway_id, AppState.FAILED, error_message=KILLED_MESSAGE)
            )
            await repo.append_log_lines(
                session, gateway_id, [f"spark-gateway: {KILLED_MESSAGE}"], keep=rt.settings.logRetentionLines
            )
        await repo.mark_deleted(session, gateway_id)
