"""Status URL templates (`gateway.statusUrlTemplates`) in the seed's Go-template syntax.

Rendered against the real SparkApplication (JSON field names), so `{{.ObjectMeta.Name}}`,
`{{.Status.SparkApplicationID}}` or `{{.Status.DriverInfo.WebUIIngressAddress}}` work as the seed's
documentation promises (the seed renders them against another object and produces empty URLs).
Supported: field paths, `{{index .ObjectMeta.Labels "key"}}`, and plain text around them; anything
else is refused when the configuration is loaded (`check_template`).
"""

from __future__ import annotations

import re
from typing import Any

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}")
_INDEX = re.compile(r'^index\s+(\.[\w.]*)\s+"([^"]*)"$')
_FIELD = re.compile(r"^(\.\w+)+$")
_ALIASES = {
    "ObjectMeta": "metadata",
    "AppState": "applicationState",
    "SparkApplicationID": "sparkApplicationId",
    "TypeMeta": "",
}
_PROMOTED = {"Name", "Namespace", "Labels", "Annotations"}


class TemplateError(ValueError):
    pass


def _json_key(go_name: str) -> str:
    if go_name in _ALIASES:
        return _ALIASES[go_name]
    return go_name[:1].lower() + go_name[1:]


def _lookup(obj: dict[str, Any], path: str) -> Any:
    parts = [p for p in path.strip(".").split(".") if p]
    if parts and parts[0] in _PROMOTED:
        parts = ["ObjectMeta", *parts]
    value: Any = obj
    for part in parts:
        key = _json_key(part)
        if key == "":
            continue
        if not isinstance(value, dict):
            return None
        value = value.get(key, value.get(part))
    return value


def check_template(template: str) -> str:
    """The template itself when every `{{...}}` action is supported; else TemplateError naming it.

    Called when the configuration is loaded, so a template the gateway cannot render stops start-up
    instead of silently giving no URL for every application.
    """
    for action in _ACTION.findall(template):
        if not (_FIELD.match(action) or _INDEX.match(action)):
            raise TemplateError(
                f"unsupported template action '{{{{{action}}}}}' (supported: a field path such as "
                '{{.Status.SparkApplicationID}}, or {{index .ObjectMeta.Labels "key"}})'
            )
    return template


def render(template: str, app: dict[str, Any]) -> str | None:
    """The rendered URL, or None when the template is empty or names a field that has no value yet."""
    if not template:
        return None
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        action = match.group(1)
        index = _INDEX.match(action)
        value = _lookup(app, index.group(1)) if index else _lookup(app, action)
        if index and isinstance(value, dict):
            value = value.get(index.group(2))
        if value is None or value == "" or isinstance(value, dict | list):
            missing = True
            return ""
        return str(value)

    rendered = _ACTION.sub(replace, template)
    return None if missing else rendered
