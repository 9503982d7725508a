"""The authentication methods of `gateway.middleware` and what every one of them answers.

Each class validates its `conf` when the gateway starts (so a bad regex or unreadable secret file stops
start-up with `ConfigError` naming `gateway.middleware[i]`) and then, per request, looks at the
credentials and answers: `None` (not mine, pass on), `Identified` (this is the user; a later entry may
overwrite it) or `Rejected` (stop with 401/403). `AuthenticationMiddleware` runs them in config order.

This module holds the base class and the methods that trust a name (regex allow/deny lists, a proxy's
header); `secret_auth` holds those that check a secret (service tokens, htpasswd passwords).
Differences from the reference gateway, on purpose: regexes must match the WHOLE name (`alice` does not
admit `malice`), and a Basic password may contain `:`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spark_gateway.api.security.credentials import (
    BasicCredentials,
    CredentialError,
    RequestCredentials,
    valid_user_name,
)
from spark_gateway.domain.errors import ConfigError

BASIC_CHALLENGE = 'Basic realm="spark-gateway"'
BEARER_CHALLENGE = 'Bearer realm="spark-gateway"'


@dataclass(frozen=True)
class Identified:
    user: str
    method: str


@dataclass(frozen=True)
class Rejected:
    status: int  # 401 (bad or missing credentials) or 403 (known, but not allowed)
    message: str  # shown to the caller: never contains a secret
    challenge: str | None = None


AuthResult = Identified | Rejected | None


class Authenticator:
    """Base class: `where` is the config position (`gateway.middleware[i]`) used in messages."""

    type_name = ""
    challenges: tuple[str, ...] = ()
    identifies = True  # False for entries that can only refuse (deny lists)

    def __init__(self, conf: Mapping[str, Any], where: str) -> None:
        self.where = where

    async def authenticate(self, creds: RequestCredentials, current: str | None) -> AuthResult:
        raise NotImplementedError


def check_keys(conf: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    for key in conf:
        if key not in allowed:
            raise ConfigError(
                f"{where}.conf.{key}: unknown key (expected one of: {', '.join(sorted(allowed))})"
            )


def _compile_list(conf: Mapping[str, Any], key: str, where: str) -> list[re.Pattern[str]]:
    values = conf.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where}.conf.{key}: must be a list of regular expressions")
    return [_compile(v, f"{where}.conf.{key}[{i}]") for i, v in enumerate(values)]


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where}: invalid regular expression {pattern!r}: {exc}") from exc


def basic_or_rejection(creds: RequestCredentials) -> BasicCredentials | Rejected | None:
    """Basic credentials or a 401 Rejected for a malformed header."""
    try:
        return creds.basic()
    except CredentialError as exc:
        return Rejected(401, str(exc), BASIC_CHALLENGE)


class RegexBasicAuthAllow(Authenticator):
    """`conf.allow: [regex]` - the Basic user name must fully match one; sets it as the user.

    Like the reference it does NOT check the password: put a `BasicAuthMiddleware` before it, or use it
    only behind a proxy that already did.
    """

    type_name = "RegexBasicAuthAllowMiddleware"
    challenges = (BASIC_CHALLENGE,)

    def __init__(self, conf: Mapping[str, Any], where: str) -> None:
        super().__init__(conf, where)
        check_keys(conf, where, {"allow"})
        self.patterns = _compile_list(conf, "allow", where)

    async def authenticate(self, creds: RequestCredentials, current: str | None) -> AuthResult:
        basic = basic_or_rejection(creds)
        if basic is None or isinstance(basic, Rejected):
            return basic
        if any(p.fullmatch(basic.user) for p in self.patterns):
            return Identified(basic.user, "regex-basic")
        return Rejected(403, f"user '{basic.user}' is not in the allow list")


class RegexBasicAuthDeny(Authenticator):
    """`conf.deny: [regex]` - refuses a Basic user name, or the user identified so far, that matches.

    It never sets the user, so it must be combined with an entry that does.
    """

    type_name = "RegexBasicAuthDenyMiddleware"
    challenges = (BASIC_CHALLENGE,)
    identifies = False

    def __init__(self, conf: Mapping[str, Any], where: str) -> None:
        super().__init__(conf, where)
        check_keys(conf, where, {"deny"})
        self.patterns = _compile_list(conf, "deny", where)

    async def authenticate(self, creds: RequestCredentials, current: str | None) -> AuthResult:
        basic = basic_or_rejection(creds)
        if isinstance(basic, Rejected):
            return basic
        for name in (basic.user if basic else None, current):
            if name is not None and any(p.fullmatch(name) for p in self.patterns):
                return Rejected(403, f"user '{name}' is denied")
        return None


class HeaderAuth(Authenticator):
    """`conf.headers: [{key, validation}]` - the user name from a header set by a trusted proxy.

    The first configured header that is present and fully matches its `validation` regex (default: any
    valid name) wins. A present but invalid value is a 401. Optional `conf.trustedProxies: [CIDR]`
    ignores the headers unless the connection comes from one of those networks.
    """

    type_name = "HeaderAuthMiddleware"

    def __init__(self, conf: Mapping[str, Any], where: str) -> None:
        super().__init__(conf, where)
        check_keys(conf, where, {"headers", "trustedProxies"})
        headers = conf.get("headers")
        if not isinstance(headers, list) or not headers:
            raise ConfigError(f"{where}.conf.headers: must be a non-empty list of {{key, validation}}")
        self.headers: list[tuple[str, bytes, re.Pattern[str]]] = []
        for i, entry in enumerate(headers):
            at = f"{where}.conf.headers[{i}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{at}: must be a mapping with key and validation")
            check_keys(entry, at, {"key", "validation"})
            key, validation = entry.get("key"), entry.get("validation") or ".+"
            if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", key):
                raise ConfigError(f"{at}.key: must be an HTTP header name")
            if not isinstance(validation, str):
                raise ConfigError(f"{at}.validation: must be a regular expression")
            self.headers.append((key, key.lower().encode("ascii"), _compile(validation, f"{at}.validation")))
        proxies = conf.get("trustedProxies")
        self.trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None
        if proxies is not None:
            if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
                raise ConfigError(f"{where}.conf.trustedProxies: must be a list of CIDR networks")
            try:
                self.trusted = [ipaddress.ip_network(p, strict=False) for p in proxies]
            except ValueError as exc:
                raise ConfigError(f"{where}.conf.trustedProxies: {exc}") from exc

    async def authenticate(self, creds: RequestCredentials, current: str | None) -> AuthResult:
        if self.trusted is not None and not self._from_trusted(creds.client):
            return None
        invalid: str | None = None
        for key, raw_key, pattern in self.headers:
            raw = creds.header(raw_key)
            if not raw:
                continue
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                value = ""
            if valid_user_name(value) and pattern.fullmatch(value):
                return Identified(value, "header")
            invalid = invalid or key
        if invalid is not None:
            return Rejected(401, f"header {invalid} does not hold a valid user name")
        return None

    def _from_trusted(self, client: str | None) -> bool:
        if client is None or self.trusted is None:
            return False
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)
