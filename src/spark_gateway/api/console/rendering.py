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
from spark_gateway.domain.states import AppState

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
