"""Reading JSON request bodies the way both APIs need: whatever the Content-Type, with clear 400s.

Livy reads the body as JSON whatever the Content-Type says, and so does the native API. A body is
already bounded by `gateway.maxRequestBodyBytes` (BodyLimitMiddleware) when it gets here, but its shape
is not: nesting is limited (a deep array would exhaust the recursion of the JSON decoder, the
validators and the database driver), and strings with a NUL character or a lone surrogate (`"\\ud800"`)
are refused: no Spark argument, file name or Kubernetes field can hold one, PostgreSQL cannot store
one, and a response holding one could not be encoded. `NaN`, `Infinity` and numbers beyond the
range of a double are not JSON values the gateway accepts either.
"""

from __future__ import annotations

import json
import math
from typing import Any

from spark_gateway.domain.errors import BadRequest

MAX_NESTING = 64  # a SparkApplication, pod templates included, is far shallower


def parse_json(raw: bytes, *, empty: Any = None) -> Any:
    """The decoded body (`empty` for a blank one); BadRequest for anything the gateway cannot store."""
    if not raw.strip():
        return empty
    try:
        payload = json.loads(raw, parse_constant=_no_constants, parse_float=_finite_float)
    except RecursionError:
        raise BadRequest(f"request body is nested more than {MAX_NESTING} levels deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    check_storable(payload)
    return payload


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "invalid Unicode (a lone surrogate)"
    return None


def check_storable(payload: Any) -> None:
    """BadRequest naming the first place that is nested too deeply or holds text that cannot be stored."""
    stack: list[tuple[Any, str, int]] = [(payload, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_NESTING:
            raise BadRequest(f"request body is nested more than {MAX_NESTING} levels deep")
        if isinstance(value, str):
            if problem := _text_problem(value):
                raise BadRequest(f"{_printable(path) or 'request body'}: {problem}")
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                if problem := _text_problem(key):
                    raise BadRequest(f"{_printable(path) or 'request body'}: {problem} in keys")
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in reversed(list(enumerate(value))))


def _printable(path: str) -> str:
    """A path for a message: the offending characters themselves would garble it."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
