"""Templates and the small formatting rules every console page shares (badges, times, durations)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from spark_gateway.api.deps import caller_of
from spark_gateway.api.errors import status_of
from spark_gateway.domain.errors import GatewayError
from spark_gateway.domain.records import ApplicationRecord
from spark_gateway.domain.states import AppState
from spark_gateway.services.sessions import SOURCE as SESSION_SOURCE

CONSOLE_PREFIX = "/ui"
HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

# Badge colours: green finished well, red failed, blue running, amber waiting, grey otherwise.
BADGES: dict[AppState, str] = {
    AppState.NEW: "waiting",
    AppState.SUBMITTED: "waiting",
    AppState.PENDING_RERUN: "waiting",
    AppState.RUNNING: "running",
    AppState.SUCCEEDING: "running",
    AppState.FAILING: "running",
    AppState.COMPLETED: "ok",
    AppState.FAILED: "failed",
    AppState.SUBMISSION_FAILED: "failed",
}


def state_label(state: AppState) -> str:
    return state.value or "NEW"


def badge_class(state: AppState) -> str:
    return BADGES.get(state, "other")


def as_utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def timestamp(value: datetime | str | None) -> str:
    moment = as_utc(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def duration(start: datetime | str | None, end: datetime | str | None = None) -> str:
    """`1h 02m`, `3m 07s`, `12s`; running applications count up to now."""
    begin = as_utc(start)
    if begin is None:
        return "—"
    seconds = max(int(((as_utc(end) or datetime.now(UTC)) - begin).total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def run_time(app: ApplicationRecord) -> str:
    """How long the application has run (so far): from its latest submission attempt to its end.

    Both times come from the status, where the local backend and the spark-operator alike put
    them (`lastSubmissionAttemptTime`, `terminationTime`; the operator clears the latter on a
    rerun), so a Kubernetes application shows its own running time, not its time in the queue.
    Not submitted yet: "—".
    """
    status = app.status
    start = as_utc(status.get("lastSubmissionAttemptTime"))
    if start is None:
        return "—"
    end = as_utc(status.get("terminationTime")) or app.terminated_at
    if end is None and app.state.is_terminal:
        return "—"  # ended, but nothing says when
    return duration(start, end)


# Livy session states (Livy's names): blue while alive, amber starting or stopping, red when failed.
SESSION_BADGES = {
    "not_started": "waiting",
    "starting": "waiting",
    "idle": "running",
    "busy": "running",
    "shutting_down": "waiting",
    "success": "ok",
    "error": "failed",
    "dead": "failed",
}
STATEMENT_BADGES = {
    "waiting": "waiting",
    "running": "running",
    "cancelling": "running",
    "available": "ok",
    "error": "failed",
}
# What the table's Type column calls each source of applications.
KINDS = {"livy": "batch", "v1": "v1", SESSION_SOURCE: "session"}


def session_badge(state: str) -> str:
    return SESSION_BADGES.get(state, "other")


def statement_badge(state: str) -> str:
    return STATEMENT_BADGES.get(state, "other")


def kind_label(app: ApplicationRecord) -> str:
    return KINDS.get(app.source, app.source)


def web_link(url: str | None) -> str | None:
    """`url` if it is an http(s) address, else None: links come from templates and cluster status,
    and a `javascript:` or `data:` URL must never become a clickable link."""
    if url and url.split(":", 1)[0].lower() in ("http", "https"):
        return url
    return None


def step_time(at: datetime | str | None, reached: bool) -> str:
    """What the timeline shows under a step: its time, or whether it was reached at all."""
    return timestamp(at) if at else ("reached" if reached else "—")


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(
    state_label=state_label,
    badge_class=badge_class,
    timestamp=timestamp,
    duration=duration,
    run_time=run_time,
    session_badge=session_badge,
    statement_badge=statement_badge,
    kind_label=kind_label,
    step_time=step_time,
    web_link=web_link,
)


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a console template with what every page needs (base path, the caller)."""
    context.update(
        base=f"{request.scope.get('root_path', '')}{CONSOLE_PREFIX}",
        api=request.scope.get("root_path", ""),
        user=caller_of(request).user,
        livy_enabled=request.app.state.settings.livy.enable,
    )
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def error_page(request: Request, exc: GatewayError) -> HTMLResponse:
    status = status_of(exc)
    return page(request, "error.html", status_code=status, status=status, message=exc.message)
