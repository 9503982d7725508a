"""Validate SparkApplications against the real spark-operator CRD schema, as the API server would.

The fake Kubernetes server rejects what a real cluster rejects, and any test can check that an object the
gateway builds would be accepted: `validate_spark_application(obj)` raises `CRDValidationError` with the
API server's field-path style messages. The CRD is the unmodified upstream YAML in `tests/data/spark-operator/`
(origin and licence in its README; override with env `SPARK_GATEWAY_CRD`); it is parsed once per process.
"""

from __future__ import annotations

import copy
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_VERSION = "v1beta2"
CRD_FILE = REPO_ROOT / "tests" / "data" / "spark-operator" / "sparkoperator.k8s.io_sparkapplications.yaml"

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_REQUIRED = re.compile(r"^'(.+)' is a required property$")


class CRDValidationError(ValueError):
    """The object would be rejected with 422 Invalid; `problems` holds (field, reason, message)."""

    def __init__(self, name: str, problems: list[tuple[str, str, str]]) -> None:
        self.name = name
        self.problems = problems
        details = ", ".join(f"{field}: {message}" for field, _, message in problems)
        super().__init__(f'SparkApplication.sparkoperator.k8s.io "{name}" is invalid: [{details}]')


def crd_path() -> Path:
    override = os.environ.get("SPARK_GATEWAY_CRD")
    if override:
        return Path(override)
    return CRD_FILE


@lru_cache(maxsize=4)
def _load_schema(path: str) -> dict[str, Any]:
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"SparkApplication CRD not found at {path}; set SPARK_GATEWAY_CRD to its path"
        )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(Path(path).read_text(), Loader=loader)
    for version in crd["spec"]["versions"]:
        if version["name"] == CRD_VERSION:
            schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
            return schema
    raise ValueError(f"{path} has no version {CRD_VERSION}")


def openapi_schema() -> dict[str, Any]:
    """The CRD's `openAPIV3Schema` for v1beta2, as written (with its `x-kubernetes-*` keywords)."""
    return _load_schema(str(crd_path()))


def _to_json_schema(node: Any) -> Any:
    """OpenAPI v3.0 → JSON Schema draft 4: `nullable` widens the type; int-or-string needs an anyOf."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items() if not key.startswith("x-kubernetes-")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


@lru_cache(maxsize=4)
def _validator(path: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_to_json_schema(_load_schema(path)))


def _field(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _schema_problems(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    problems = []
    for error in _validator(str(crd_path())).iter_errors(obj):
        field = _field(error.absolute_path)
        if error.validator == "required" and (match := _REQUIRED.match(error.message)):
            prefix = "" if field == "<root>" else field + "."
            problems.append((prefix + match[1], "FieldValueRequired", "Required value"))
        elif error.validator == "enum":
            allowed = ", ".join(json.dumps(value) for value in error.validator_value)
            message = f"Unsupported value: {json.dumps(error.instance)}: supported values: {allowed}"
            problems.append((field, "FieldValueNotSupported", message))
        elif error.validator == "type":
            value = json.dumps(error.instance)[:80]
            message = f"Invalid value: {value}: must be of type {error.validator_value}"
            problems.append((field, "FieldValueTypeInvalid", message))
        else:
            message = f"Invalid value: {json.dumps(error.instance)[:80]}: {error.message[:200]}"
            problems.append((field, "FieldValueInvalid", message))
    return sorted(problems)


def _metadata_problems(meta: Any) -> list[tuple[str, str, str]]:
    """What the API server checks for every object's metadata (ObjectMeta validation)."""
    if not isinstance(meta, dict):
        return []
    problems = []
    name = meta.get("name")
    if name is not None and (len(name) > 253 or not _DNS_SUBDOMAIN.match(name)):
        problems.append(
            (
                "metadata.name",
                "FieldValueInvalid",
                f"Invalid value: {json.dumps(name)}: "
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                "'-' or '.', and must start and end with an alphanumeric character",
            )
        )
    for key, value in (meta.get("labels") or {}).items():
        prefix, _, short = key.rpartition("/")
        if (
            (prefix and not _DNS_SUBDOMAIN.match(prefix))
            or not short
            or len(short) > 63
            or not (_LABEL_VALUE.match(short))
        ):
            problems.append(("metadata.labels", "FieldValueInvalid", f"Invalid value: {json.dumps(key)}"))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            message = f"Invalid value: {json.dumps(value)}: a valid label must be 63 characters or less, "
            message += "empty or begin and end with an alphanumeric character ([a-z0-9A-Z])"
            problems.append(("metadata.labels", "FieldValueInvalid", message))
    return problems


def unknown_fields(obj: dict[str, Any], *, prune: bool = False) -> list[str]:
    """Fields the CRD schema does not declare (the API server drops them); removed from `obj` if `prune`."""
    found: list[str] = []
    schema = openapi_schema()
    for key in [k for k in obj if k != "metadata"]:
        _walk_unknown(obj, key, schema, key, found, prune)
    return found


def _walk_unknown(
    parent: Any, key: Any, schema: dict[str, Any], path: str, found: list[str], prune: bool
) -> None:
    """`schema` describes `parent`; report `parent[key]` if undeclared, else descend into it."""
    props = schema.get("properties")
    if isinstance(parent, dict) and props is not None and key not in props:
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            found.append(path)
            if prune:
                del parent[key]
        return
    sub = props[key] if props is not None else schema.get("additionalProperties")
    value = parent[key]
    if not isinstance(sub, dict):
        return
    if isinstance(value, dict) and (sub.get("properties") is not None or "additionalProperties" in sub):
        for child in list(value):
            _walk_unknown(value, child, sub, f"{path}.{child}", found, prune)
    elif isinstance(value, list) and isinstance(sub.get("items"), dict):
        wrapper = {"properties": None, "additionalProperties": sub["items"]}
        for index in range(len(value)):
            _walk_unknown(value, index, wrapper, f"{path}[{index}]", found, prune)


def validate_spark_application(obj: dict[str, Any], *, allow_unknown_fields: bool = False) -> None:
    """Raise CRDValidationError if a real API server would reject `obj` (or drop fields from it).

    Unknown fields are errors by default (a real server silently drops them, which is never what the
    gateway means); `allow_unknown_fields=True` matches the server's default behaviour. CEL rules
    (`x-kubernetes-validations`) are not evaluated; this CRD has none.
    """
    problems = _metadata_problems(obj.get("metadata")) + _schema_problems(obj)
    if not allow_unknown_fields:
        copied = copy.deepcopy(obj)
        problems += [(path, "FieldValueInvalid", "unknown field") for path in unknown_fields(copied)]
    if problems:
        name = (obj.get("metadata") or {}).get("name") or ""
        raise CRDValidationError(str(name), problems)
