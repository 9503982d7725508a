"""The Applications table (batches, sessions, v1) and the Application page (timeline, request,
driver log, Kill)."""

from __future__ import annotations

import json
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from spark_gateway.api.console.rendering import CONSOLE_PREFIX, as_utc, error_page, page, run_time, step_time
from spark_gateway.api.deps import CurrentCaller, CurrentGateway
from spark_gateway.domain.errors import BadRequest, GatewayError
from spark_gateway.domain.records import ApplicationRecord
from spark_gateway.domain.sessions import LABEL_LIVY_SESSION_ID
from spark_gateway.domain.states import AppState
from spark_gateway.services import applications as apps
from spark_gateway.services.browsing import BrowseQuery, browse_applications
from spark_gateway.services.sessions import SOURCE as SESSION_SOURCE
from spark_gateway.services.transitions import RUNNING_TIME_KEY

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)

STATE_CHOICES = [s for s in AppState if s != AppState.UNKNOWN] + [AppState.UNKNOWN]
LOG_PAGE_LINES = 2000  # per request of the live tail; a finished log arrives in pages of this size


def parse_states(values: list[str]) -> tuple[AppState, ...]:
    states = []
    for value in values:
        if not value:
            continue
        name = "" if value == "NEW" else value
        if name not in {s.value for s in AppState}:
            raise BadRequest(f"unknown state '{value[:40]}'")
        states.append(AppState(name))
    return tuple(states)


@router.get("/applications", response_class=HTMLResponse)
async def applications_page(
    request: Request,
    rt: CurrentGateway,
    caller: CurrentCaller,
    state: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies query defaults)
    cluster: str = "",
    namespace: str = "",
    owner: str = "",
    q: str = "",
    before: str = "",
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> HTMLResponse:
    try:
        query = BrowseQuery(
            states=parse_states(state),
            cluster=cluster or None,
            namespace=namespace or None,
            owner=owner or None,
            search=q.strip() or None,
            before=before or None,
            size=size,
        )
        result = await browse_applications(rt, caller, query)
    except GatewayError as exc:
        return error_page(request, exc)
    filters = {"state": state, "cluster": cluster, "namespace": namespace, "owner": owner, "q": q}
    template = "applications_table.html" if request.headers.get("hx-request") else "applications.html"
    return page(
        request,
        template,
        page_result=result,
        filters=filters,
        filtered=any([state, cluster, namespace, owner, q]),
        paged=bool(before),
        size=size,
        state_choices=STATE_CHOICES,
        clusters=rt.settings.clusters,
        namespaces=sorted({ns.name for c in rt.settings.clusters for ns in c.namespaces}),
    )


def timeline(record: ApplicationRecord) -> list[tuple[str, Any, bool]]:
    """(step, time, reached) for created, submitted, running and finished."""
    status = cast(dict[str, Any], record.status)  # holds the gateway's own firstRunningTime too
    ran = record.state in (AppState.RUNNING, AppState.SUCCEEDING, AppState.FAILING) or (
        RUNNING_TIME_KEY in status
    )
    return [
        ("Created", record.created_at, True),
        ("Submitted", as_utc(status.get("lastSubmissionAttemptTime")), record.state != AppState.NEW),
        ("Running", as_utc(status.get(RUNNING_TIME_KEY)), ran),
        ("Finished", record.terminated_at, record.state.is_terminal),
    ]


def resubmission(record: ApplicationRecord) -> dict[str, Any]:
    """The Livy batch request this application corresponds to (for "submit again")."""
    spec = record.spec.get("spec") or {}
    return {
        "file": spec.get("mainApplicationFile") or "",
        "className": spec.get("mainClass") or "",
        "args": spec.get("arguments") or [],
        "conf": spec.get("sparkConf") or {},
        "name": record.name or "",
        "namespace": record.namespace,
    }


def session_id_of(record: ApplicationRecord) -> str | None:
    """The Livy session whose driver this application is (None for batches and v1 applications)."""
    if record.source != SESSION_SOURCE:
        return None
    labels = (record.spec.get("metadata") or {}).get("labels") or {}
    value = labels.get(LABEL_LIVY_SESSION_ID)
    return value if isinstance(value, str) and value.isdigit() else None


@router.get("/applications/{gateway_id}", response_class=HTMLResponse, response_model=None)
async def application_page(
    request: Request, gateway_id: str, rt: CurrentGateway, caller: CurrentCaller
) -> HTMLResponse | RedirectResponse:
    try:
        record = await apps.get_application(rt, caller, gateway_id)
    except GatewayError as exc:
        return error_page(request, exc)
    if (session_id := session_id_of(record)) is not None:  # a session's driver: the session's page
        return RedirectResponse(f"{request.scope.get('root_path', '')}{CONSOLE_PREFIX}/sessions/{session_id}")
    return page(
        request,
        "application.html",
        app=record,
        steps=timeline(record),
        submitted=json.dumps(record.spec, indent=2, sort_keys=True),
        request_fields=resubmission(record),
        can_kill=rt.access.can_modify(caller.user, record.owner, record.proxy_user)
        and not record.state.is_terminal,
    )


@router.get("/applications/{gateway_id}/log")
async def application_log(
    gateway_id: str,
    rt: CurrentGateway,
    caller: CurrentCaller,
    from_: Annotated[int, Query(alias="from", ge=0)] = 0,
) -> JSONResponse:
    """Stored driver log lines from `from` on (for the page's live tail), and whether more may come."""
    record = await apps.get_application(rt, caller, gateway_id)
    log_page = await apps.read_log_page(rt, gateway_id, offset=from_, size=LOG_PAGE_LINES)
    more = log_page.offset + len(log_page.lines) < log_page.total
    return JSONResponse(
        {
            "from": log_page.offset,
            "total": log_page.total,
            "lines": log_page.lines,
            "state": record.state.value or "NEW",
            "done": record.state.is_terminal and not more,
            "duration": run_time(record),
            "timeline": [
                {"step": step, "at": step_time(at, reached), "reached": reached}
                for step, at, reached in timeline(record)
            ],
        },
        headers={"Cache-Control": "no-store"},
    )
