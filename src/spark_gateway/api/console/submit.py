"""The Submit page: a form for a Livy batch, posted by the page's script to `POST /api/livy/batches`.

There is deliberately no form-POST endpoint here: the browser sends JSON to the API route itself, so
the API's validation messages, CSRF rules and authorization apply unchanged. `?from=<gatewayId>`
prefills the form from an application the caller may see ("submit again").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from spark_gateway.api.console.applications import resubmission
from spark_gateway.api.console.rendering import CONSOLE_PREFIX, error_page, page
from spark_gateway.api.deps import CurrentCaller, CurrentGateway
from spark_gateway.domain.errors import GatewayError
from spark_gateway.services import applications as apps

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)


@router.get("/submit", response_class=HTMLResponse)
async def submit_page(
    request: Request,
    rt: CurrentGateway,
    caller: CurrentCaller,
    from_: Annotated[str, Query(alias="from")] = "",
) -> HTMLResponse:
    fields: dict[str, Any] = {
        "file": "",
        "className": "",
        "args": [],
        "conf": {},
        "name": "",
        "namespace": "",
    }
    source = from_
    if source:
        try:
            fields = resubmission(await apps.get_application(rt, caller, source))
        except GatewayError as exc:
            return error_page(request, exc)
    namespaces = sorted({ns.name for c in rt.settings.clusters for ns in c.namespaces})
    return page(
        request,
        "submit.html",
        fields=fields,
        conf_text="\n".join(f"{k}={v}" for k, v in fields["conf"].items()),
        args_text="\n".join(fields["args"]),
        namespaces=namespaces,
        default_namespace=fields["namespace"] or rt.settings.livy.defaultNamespace,
        source=source,
    )
