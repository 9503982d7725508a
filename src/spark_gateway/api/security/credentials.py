"""Parsing what a request presents, and loading and checking the secrets it is compared against.

Everything that touches a password or token lives here, so the rules are easy to audit: secrets are
compared as bytes with `hmac.compare_digest`, bcrypt runs in a worker thread (it is slow on purpose and
must not stall the event loop), and no function logs or returns a secret in a message.

Secret sources (the `conf` of a middleware): `<name>File` is a path, in which `${VAR}` is replaced by
the environment variable VAR; `<name>Env` names an environment variable that holds the file's content
itself (handy for Kubernetes secrets). Token values inside a token map may also be `${VAR}`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread
import bcrypt
import yaml
from starlette.datastructures import Headers
from starlette.types import Scope

from spark_gateway.api.security.scope_info import client_address
from spark_gateway.domain.errors import ConfigError

MAX_USER_LENGTH = 253  # the owner column (and a Kubernetes name) holds at most 253 characters
BCRYPT_MAX_PASSWORD_BYTES = 72  # bcrypt ignores the rest; Apache's htpasswd truncates the same way
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")


class CredentialError(Exception):
    """Malformed credentials; the message is safe to show to the caller."""


@dataclass(frozen=True)
class BasicCredentials:
    user: str
    password: bytes = field(repr=False)


def valid_user_name(name: str) -> bool:
    """Non-empty, at most 253 characters, printable, no surrounding blanks."""
    return 0 < len(name) <= MAX_USER_LENGTH and name == name.strip() and name.isprintable()


def secrets_equal(presented: bytes, expected: bytes) -> bool:
    """Constant-time comparison (bytes, so non-ASCII input cannot make it raise)."""
    return hmac.compare_digest(presented, expected)


class RequestCredentials:
    """What one request presents; built once per request and shared by every authenticator."""

    def __init__(self, scope: Scope) -> None:
        self.headers = Headers(scope=scope)
        self.client = client_address(scope)
        self.path: str = scope.get("path", "")
        values = self.headers.getlist("authorization")
        self._ambiguous = len(values) > 1
        raw = values[0].strip() if values else ""
        scheme, _, param = raw.partition(" ")
        self.scheme: str | None = scheme.lower() if scheme else None
        self._param = param.strip().encode("latin-1")

    def header(self, name: str) -> bytes | None:
        """The first value of header `name` as the bytes sent, or None when absent."""
        value = self.headers.get(name)
        return None if value is None else value.encode("latin-1")

    def basic(self) -> BasicCredentials | None:
        """The Basic credentials, None if the request uses no Basic auth; CredentialError if malformed."""
        if self.scheme != "basic":
            return None
        self._check_single()
        try:
            decoded = base64.b64decode(self._param, validate=True)
        except (binascii.Error, ValueError):
            raise CredentialError("invalid Authorization header") from None
        user_bytes, colon, password = decoded.partition(b":")
        if not colon:
            raise CredentialError("invalid Authorization header")
        try:
            user = user_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise CredentialError("invalid Authorization header") from None
        if not valid_user_name(user):
            raise CredentialError("invalid Authorization header")
        return BasicCredentials(user, password)

    def bearer(self) -> bytes | None:
        """The Bearer token, None if the request uses no Bearer auth; CredentialError if empty."""
        if self.scheme != "bearer":
            return None
        self._check_single()
        if not self._param:
            raise CredentialError("invalid Authorization header")
        return self._param

    def _check_single(self) -> None:
        if self._ambiguous:
            raise CredentialError("more than one Authorization header")


# Loading secrets ---------------------------------------------------------------------------------


def expand_env(text: str, where: str) -> str:
    """Replace every `${VAR}` with the environment variable; a missing one is a ConfigError."""

    def repl(match: re.Match[str]) -> str:
        value = os.environ.get(match[1])
        if value is None:
            raise ConfigError(f"{where}: environment variable {match[1]} is not set")
        return value

    return _ENV_REF.sub(repl, text)


def read_secret_source(
    conf: object, file_key: str, env_key: str, where: str, default_file: str | None = None
) -> tuple[str, str]:
    """The content of the secret file (or env variable) named by `conf`'s fields `file_key` / `env_key`,
    and a description of where it came from. `where` names the entry (its `conf` in messages)."""
    file_value: str | None = getattr(conf, file_key)
    env_value: str | None = getattr(conf, env_key)
    where = f"{where}.conf"
    if env_value is not None:
        if not env_value:
            raise ConfigError(f"{where}.{env_key}: must be the name of an environment variable")
        content = os.environ.get(env_value)
        if not content:
            raise ConfigError(f"{where}.{env_key}: environment variable {env_value} is not set or empty")
        return content, f"environment variable {env_value}"
    if file_value is None:
        if default_file is None:
            raise ConfigError(f"{where}: {file_key} or {env_key} is required")
        file_value = default_file
    if not file_value:
        raise ConfigError(f"{where}.{file_key}: must be a file path")
    path = Path(expand_env(file_value, f"{where}.{file_key}"))
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{where}.{file_key}: cannot read {path}: {reason}") from exc


def parse_token_map(text: str, where: str) -> dict[str, bytes]:
    """A flat YAML map `service: token` (names may contain dots); tokens may be `${VAR}`."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"{where}: the service token map is not valid YAML") from None
    if not isinstance(loaded, dict) or not loaded:
        raise ConfigError(f"{where}: the service token map must be a non-empty mapping service: token")
    tokens: dict[str, bytes] = {}
    for name, token in loaded.items():
        if not isinstance(name, str) or not valid_user_name(name):
            raise ConfigError(f"{where}: invalid service name {name!r}")
        if not isinstance(token, str):
            # Never echo the value: it is a secret. YAML turns unquoted 0123 or true into non-strings.
            raise ConfigError(f"{where}: the token of service '{name}' must be a string (quote it)")
        token = expand_env(token, f"{where}: token of service '{name}'")
        if not token:
            raise ConfigError(f"{where}: the token of service '{name}' is empty")
        tokens[name] = token.encode("utf-8")
    return tokens


def parse_htpasswd(text: str, where: str) -> dict[str, bytes]:
    """`user:hash` lines (`htpasswd -B`); only bcrypt is accepted, `$2y$` is stored as `$2b$`."""
    users: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, hashed = line.partition(":")
        if not colon or not valid_user_name(user):
            raise ConfigError(f"{where}: line {number}: expected 'user:bcrypt-hash'")
        if not _BCRYPT_HASH.fullmatch(hashed):
            raise ConfigError(
                f"{where}: line {number} (user '{user}'): only bcrypt hashes are supported "
                "($2y$/$2b$/$2a$, as written by `htpasswd -B`)"
            )
        if user in users:
            raise ConfigError(f"{where}: line {number}: user '{user}' appears twice")
        # $2y$ (PHP/Apache) and $2b$ are the same algorithm; the bcrypt library wants $2b$.
        users[user] = ("$2b$" + hashed[4:] if hashed.startswith("$2y$") else hashed).encode("ascii")
    if not users:
        raise ConfigError(f"{where}: the htpasswd file defines no users")
    return users


class HtpasswdVerifier:
    """Checks passwords against bcrypt hashes, remembering recent successes for a few minutes.

    bcrypt costs tens to hundreds of milliseconds by design; Livy clients poll every second, so verified
    (user, password) pairs are cached under an HMAC with a per-process random key (the password itself
    is never stored). Failures are never cached.
    """

    def __init__(self, hashes: Mapping[str, bytes], cache_size: int = 1024, cache_ttl: float = 300.0) -> None:
        self._hashes = dict(hashes)
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        self._cache_size = cache_size
        self._cache_ttl = cache_ttl
        self._key = secrets.token_bytes(32)
        # Its own small thread budget: a flood of bad logins must not take every worker thread.
        self._limiter: anyio.CapacityLimiter | None = None
        # Checked for unknown users so that their answer takes as long as a wrong password's.
        cost = min(int(h[4:6]) for h in self._hashes.values())
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))

    async def verify(self, user: str, password: bytes, *, equalize_timing: bool = True) -> bool | None:
        """True/False for a known user; None for an unknown one."""
        password = password[:BCRYPT_MAX_PASSWORD_BYTES]
        hashed = self._hashes.get(user)
        if hashed is None:
            if equalize_timing:
                await self._checkpw(password, self._dummy)
            return None
        key = hmac.new(self._key, user.encode("utf-8") + b"\0" + password, hashlib.sha256).digest()
        now = time.monotonic()
        expires = self._cache.get(key)
        if expires is not None and expires > now:
            return True
        ok = await self._checkpw(password, hashed)
        if ok:
            self._cache[key] = now + self._cache_ttl
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return bool(ok)

    async def _checkpw(self, password: bytes, hashed: bytes) -> bool:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(max(2, (os.cpu_count() or 2) // 2))
        return bool(await anyio.to_thread.run_sync(bcrypt.checkpw, password, hashed, limiter=self._limiter))
