"""Authentication methods that check a secret: service tokens and htpasswd (bcrypt) passwords.

Services call the gateway with a shared token from a YAML map; people use HTTP Basic with passwords
from an htpasswd file (`htpasswd -B`). Both keep the secrets only in memory, compare them in constant
time or with bcrypt (see `credentials`), and never put them into a message or a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spark_gateway.api.security.authenticators import (
    BASIC_CHALLENGE,
    BEARER_CHALLENGE,
    Authenticator,
    AuthResult,
    Identified,
    Rejected,
    basic_or_rejection,
    check_keys,
)
from spark_gateway.api.security.credentials import (
    CredentialError,
    HtpasswdVerifier,
    RequestCredentials,
    parse_htpasswd,
    parse_token_map,
    read_secret_source,
    secrets_equal,
    valid_user_name,
)

DEFAULT_TOKEN_MAP_FILE = "/conf/service-auth-config.yaml"  # the reference gateway's default


class ServiceTokenAuth(Authenticator):
    """Services with a shared token: `X-Spark-Gateway-User: svc` plus `X-Spark-Gateway-Token: tok`
    (or `Authorization: Bearer tok`), or Basic `svc:tok`.

    The token map comes from `conf.serviceTokenMapFile` (default `/conf/service-auth-config.yaml`) or
    `conf.serviceTokenMapEnv`. A Basic name that is not a service is left to the other entries.
    """

    type_name = "ServiceTokenAuthMiddleware"
    challenges = (BEARER_CHALLENGE, BASIC_CHALLENGE)

    def __init__(self, conf: Mapping[str, Any], where: str) -> None:
        super().__init__(conf, where)
        check_keys(conf, where, {"serviceTokenMapFile", "serviceTokenMapEnv"})
        text, source = read_secret_source(
            conf,
            file_key="serviceTokenMapFile",
            env_key="serviceTokenMapEnv",
            where=f"{where}.conf",
            default_file=DEFAULT_TOKEN_MAP_FILE,
        )
        self.tokens = parse_token_map(text, f"{where} ({source})")

    async def authenticate(self, creds: RequestCredentials, current: str | None) -> AuthResult:
        raw_service = creds.header(b"x-spark-gateway-user")
        if raw_service:
            service = raw_service.decode("latin-1")
            if not valid_user_name(service):
                return Rejected(401, "invalid X-Spark-Gateway-User header", BEARER_CHALLENGE)
            token = creds.header(b"x-spark-gateway-token")
            if not token:
                try:
                    token = creds.bearer()
                except CredentialError as exc:
                    return Rejected(401, str(exc), BEARER_CHALLENGE)
            if not token:
                return Rejected(401, "X-Spark-Gateway-Token is not set", BEARER_CHALLENGE)
            expected = self.tokens.get(service)
            if expected is None:
                return Rejected(403, f"service {service} not authorized")
            if not secrets_equal(token, expected):
                return Rejected(401, f"service {service} not authorized: invalid token", BEARER_CHALLENGE)
            return Identified(service, "service-token")
        basic = basic_or_rejection(creds)
        if basic is None or isinstance(basic, Rejected):
            return basic
        expected = self.tokens.get(basic.user)
        if expected is not None and secrets_equal(basic.password, expected):
            return Identified(basic.user, "service-token")
        return None


class BasicAuth(Authenticator):
    """`conf.htpasswdFile` (or `conf.htpasswdEnv`): HTTP Basic checked against bcrypt htpasswd lines.

    A wrong password is a 401 at once; a name not in the file is left to the other entries (and costs
    the same bcrypt time, so answers do not reveal which names exist).
    """

    type_name = "BasicAuthMiddleware"
    challenges = (BASIC_CHALLENGE,)

    def __init__(self, conf: Mapping[str, Any], where: str) -> None:
        super().__init__(conf, where)
        check_keys(conf, where, {"htpasswdFile", "htpasswdEnv"})
        text, source = read_secret_source(
            conf, file_key="htpasswdFile", env_key="htpasswdEnv", where=f"{where}.conf"
        )
        self.verifier = HtpasswdVerifier(parse_htpasswd(text, f"{where} ({source})"))

    async def authenticate(self, creds: RequestCredentials, current: str | None) -> AuthResult:
        basic = basic_or_rejection(creds)
        if basic is None or isinstance(basic, Rejected):
            return basic
        ok = await self.verifier.verify(basic.user, basic.password, equalize_timing=current is None)
        if ok is None:
            return None
        if ok:
            return Identified(basic.user, "htpasswd")
        return Rejected(401, "invalid user name or password", BASIC_CHALLENGE)
