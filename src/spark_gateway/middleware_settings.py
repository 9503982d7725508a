"""The `gateway.middleware` entries, validated when the configuration loads.

Each entry is `{type, conf}` with the reference gateway's type names and keys; pydantic picks the `conf`
model by `type` (a discriminated union), so an unknown type, an unknown key, a bad regex or network
stops `Settings.load` - and with it both `serve` and `check-config` - with a message naming the key.

`check_chain` adds the rules that span entries, because they decide whose word the gateway takes for
a user name: an entry that would accept a name nobody verified (`HeaderAuthMiddleware`, or a
`RegexBasicAuthAllowMiddleware` that admits Basic names) must say which proxies it trusts with
`conf.trustedProxies`, and a chain must be able to establish a user at all.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ConfT = TypeVar("ConfT", bound=BaseModel)


class _Conf(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValueError(f"not a network (CIDR) or address: {exc}") from None
    return value


def _header_name(value: str) -> str:
    if not HEADER_NAME.fullmatch(value):
        raise ValueError("must be an HTTP header name")
    return value


Regex = Annotated[str, AfterValidator(_regex)]
Cidr = Annotated[str, AfterValidator(_network)]
HeaderName = Annotated[str, AfterValidator(_header_name)]


def networks(cidrs: list[str] | None) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs or ())


class RegexAllowConf(_Conf):
    allow: list[Regex] = Field(default_factory=list)
    # Addresses of an authenticating proxy: only from there is the Basic user name taken as proven.
    trustedProxies: list[Cidr] | None = None


class RegexDenyConf(_Conf):
    deny: list[Regex] = Field(default_factory=list)


class UserHeader(_Conf):
    key: HeaderName
    validation: Regex | None = None  # default: any valid user name


class HeaderAuthConf(_Conf):
    headers: list[UserHeader] = Field(min_length=1)
    trustedProxies: list[Cidr] | None = None


class _SecretSource(_Conf):
    """`<name>File` (a path; `${VAR}` is expanded) or `<name>Env` (a variable holding the content)."""

    @model_validator(mode="after")
    def _one_source(self) -> _SecretSource:
        values = self.model_dump()
        if all(v is not None for v in values.values()) and len(values) == 2:
            raise ValueError(f"set either {' or '.join(values)}, not both")
        return self


class ServiceTokenConf(_SecretSource):
    serviceTokenMapFile: str | None = None  # default: /conf/service-auth-config.yaml (the reference's)
    serviceTokenMapEnv: str | None = None


class BasicAuthConf(_SecretSource):
    htpasswdFile: str | None = None
    htpasswdEnv: str | None = None

    @model_validator(mode="after")
    def _required(self) -> BasicAuthConf:
        if self.htpasswdFile is None and self.htpasswdEnv is None:
            raise ValueError("htpasswdFile or htpasswdEnv is required")
        return self


class _Entry(BaseModel, Generic[ConfT]):
    """`{type, conf}`; a missing `conf` is validated as `{}`, so a required key is reported by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str  # each entry narrows it to its Literal: the union's discriminator
    conf: ConfT = Field(default_factory=dict, validate_default=True)


class RegexAllowEntry(_Entry[RegexAllowConf]):
    type: Literal["RegexBasicAuthAllowMiddleware"]


class RegexDenyEntry(_Entry[RegexDenyConf]):
    type: Literal["RegexBasicAuthDenyMiddleware"]


class HeaderAuthEntry(_Entry[HeaderAuthConf]):
    type: Literal["HeaderAuthMiddleware"]


class ServiceTokenEntry(_Entry[ServiceTokenConf]):
    type: Literal["ServiceTokenAuthMiddleware"]


class BasicAuthEntry(_Entry[BasicAuthConf]):
    type: Literal["BasicAuthMiddleware"]


MiddlewareEntry = Annotated[
    RegexAllowEntry | RegexDenyEntry | HeaderAuthEntry | ServiceTokenEntry | BasicAuthEntry,
    Field(discriminator="type"),
]


def establishes_user(entry: MiddlewareEntry) -> bool:
    """Can this entry set the request's user (by checking a secret, or trusting a proxy)?"""
    if isinstance(entry, BasicAuthEntry | ServiceTokenEntry | HeaderAuthEntry):
        return True
    return isinstance(entry, RegexAllowEntry) and entry.conf.trustedProxies is not None


def check_chain(entries: list[MiddlewareEntry]) -> None:
    """The rules across entries; ValueError naming the key to set."""
    for i, entry in enumerate(entries):
        where = f"gateway.middleware[{i}]"
        proxies = getattr(entry.conf, "trustedProxies", None)
        if isinstance(entry, HeaderAuthEntry) and proxies is None:
            raise ValueError(
                f"{where} ({entry.type}) takes the user name from a request header, which any client "
                f"can send: set {where}.conf.trustedProxies to the networks (CIDR) of the proxy that "
                "authenticates users and sets the header"
            )
        if proxies is not None and not proxies:
            raise ValueError(f"{where}.conf.trustedProxies: list at least one network, or remove the key")
    if entries and not any(establishes_user(entry) for entry in entries):
        first = next((i for i, e in enumerate(entries) if isinstance(e, RegexAllowEntry)), None)
        hint = (
            f"; to take the Basic user name from an authenticating proxy, set "
            f"gateway.middleware[{first}].conf.trustedProxies to that proxy's networks (CIDR)"
            if first is not None
            else ""
        )
        raise ValueError(
            "gateway.middleware: no entry can establish a user (allow/deny lists only filter a user "
            "that BasicAuthMiddleware, ServiceTokenAuthMiddleware or a trusted proxy established)" + hint
        )
