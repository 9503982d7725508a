"""What Livy batches, sessions and statements share: how a path names one, request bodies checked in
Livy's words, and the limits that keep ids, names, offsets and page sizes within their columns."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from spark_gateway.domain.errors import BadRequest, NotFound
from spark_gateway.domain.records import LogPage
from spark_gateway.services import applications
from spark_gateway.services.applications import Caller
from spark_gateway.services.gateway import GatewayRuntime

# Batch, session and statement ids are 32-bit integer columns; names and users are stored in columns
# of 253 characters.
MAX_BATCH_ID = 2**31 - 1
MAX_NAME_LENGTH = 253
# Offsets beyond this are clamped, so no request can overflow the database's integer types.
MAX_PAGE = 2**31 - 1

Request = TypeVar("Request", bound=BaseModel)
Found = TypeVar("Found")


def default_spark_version() -> str:
    """The installed pyspark's version, for batches that do not say (`livy.sparkVersion` empty)."""
    try:
        return importlib.metadata.version("pyspark")
    except importlib.metadata.PackageNotFoundError:
        return "3.5.0"


def not_found(ref: str | int) -> NotFound:
    return NotFound(f"Session '{ref}' not found.")


def validated(model: type[Request], payload: object) -> Request:
    """A request body as `model`; BadRequest naming every problem, unknown fields as Livy does."""
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError) -> str:
    messages = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "body"
        if err["type"] == "extra_forbidden":
            messages.append(f'Unrecognized field "{field}"')
        else:
            messages.append(f"{field}: {err['msg']}")
    return "; ".join(messages)


def check_name(name: str | None) -> None:
    """Livy refuses an empty name and one of digits only (a path would read it as an id)."""
    if name is not None and (name == "" or name.isdigit()):
        raise BadRequest(f"Rejected, Reason: Invalid session name: {name}")


def check_length(what: str, value: str | None) -> None:
    if value is not None and len(value) > MAX_NAME_LENGTH:
        raise BadRequest(f"{what}: longer than {MAX_NAME_LENGTH} characters")


def ref_number(ref: str) -> int | None:
    """The id a path reference names (ASCII digits only), or None when it is a name; Livy's 404 for
    a reference that no stored id or name can match."""
    number = int(ref) if ref.isascii() and ref.isdigit() else None
    if number is not None and number > MAX_BATCH_ID:
        raise not_found(ref)
    if number is None and (len(ref) > MAX_NAME_LENGTH or "\x00" in ref):
        raise not_found(ref)
    return number


async def find(
    gateway: GatewayRuntime,
    caller: Caller,
    ref: str,
    by_id: Callable[[int], Awaitable[Found | None]],
    by_name: Callable[[str, str | None], Awaitable[Found | None]],
) -> Found:
    """What a path reference names: by id, or (as Livy allows) by name among what the caller may see
    (`by_name` gets the owner to filter on); Livy's 404 when nothing matches."""
    number = ref_number(ref)
    if number is not None:
        found = await by_id(number)
    else:
        found = await by_name(ref, gateway.access.visible_owner_filter(caller.user))
    if found is None:
        raise not_found(ref)
    return found


def page_offset(offset: int) -> int:
    """A list's `from`, within what the database can count to."""
    return min(max(offset, 0), MAX_PAGE)


async def log_page(gateway: GatewayRuntime, gateway_id: str, *, offset: int | None, size: int) -> LogPage:
    """A page of a batch's or session's driver log (`offset` None: the last `size` lines)."""
    if offset is not None:
        offset = min(offset, MAX_PAGE)
    return await applications.read_log_page(gateway, gateway_id, offset=offset, size=min(size, MAX_PAGE))
