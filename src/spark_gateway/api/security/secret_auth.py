"""The entries that check a secret: service tokens and htpasswd (bcrypt) passwords.

Services call the gateway with a shared token from a YAML map; people use HTTP Basic with passwords
from an htpasswd file (`htpasswd -B`). Both keep the secrets only in memory, compare them in constant
time or with bcrypt (see `credentials`), and never put them into a message or a log line. A wrong
secret and an unknown name get the same answer, so nobody can learn which names exist.
"""

from __future__ import annotations

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
from spark_gateway.api.security.identity import (
    BAD_PASSWORD,
    BAD_SERVICE,
    BASIC_CHALLENGE,
    BEARER_CHALLENGE,
    Authenticator,
    Identity,
    Proof,
    basic_credentials,
)
from spark_gateway.domain.errors import Unauthorized
from spark_gateway.middleware_settings import BasicAuthConf, ServiceTokenConf

DEFAULT_TOKEN_MAP_FILE = "/conf/service-auth-config.yaml"  # the reference gateway's default
SERVICE_HEADER = "x-spark-gateway-user"
TOKEN_HEADER = "x-spark-gateway-token"


class ServiceTokenAuth(Authenticator):
    """Services with a shared token: `X-Spark-Gateway-User: svc` plus `X-Spark-Gateway-Token: tok`
    (or `Authorization: Bearer tok`), or Basic `svc:tok`.

    The token map comes from `conf.serviceTokenMapFile` (default `/conf/service-auth-config.yaml`) or
    `conf.serviceTokenMapEnv`. A name not in the map is left to the other entries; if none knows it,
    the chain answers exactly as for a wrong token.
    """

    type_name = "ServiceTokenAuthMiddleware"
    challenges = (BEARER_CHALLENGE, BASIC_CHALLENGE)

    def __init__(self, conf: ServiceTokenConf, where: str) -> None:
        super().__init__(where)
        text, source = read_secret_source(
            conf, "serviceTokenMapFile", "serviceTokenMapEnv", where, DEFAULT_TOKEN_MAP_FILE
        )
        self.tokens = parse_token_map(text, f"{where} ({source})")

    async def identify(self, creds: RequestCredentials) -> Identity | None:
        raw_service = creds.header(SERVICE_HEADER)
        if raw_service:
            service = raw_service.decode("latin-1")
            token = creds.header(TOKEN_HEADER)
            if not token:
                try:
                    token = creds.bearer()
                except CredentialError as exc:
                    raise Unauthorized(str(exc), BEARER_CHALLENGE) from None
            if not token:
                raise Unauthorized("X-Spark-Gateway-Token is not set", BEARER_CHALLENGE)
            expected = self.tokens.get(service) if valid_user_name(service) else None
            if expected is None:
                return None  # another entry may know it; else the chain answers BAD_SERVICE
            if not secrets_equal(token, expected):
                raise Unauthorized(BAD_SERVICE, BEARER_CHALLENGE)
            return Identity(service, "service-token", Proof.VERIFIED)
        basic = basic_credentials(creds)
        if basic is None:
            return None
        expected = self.tokens.get(basic.user)
        if expected is not None and secrets_equal(basic.password, expected):
            return Identity(basic.user, "service-token", Proof.VERIFIED)
        return None


class BasicAuth(Authenticator):
    """`conf.htpasswdFile` (or `conf.htpasswdEnv`): HTTP Basic checked against bcrypt htpasswd lines.

    A wrong password is a 401 at once; a name not in the file is left to the other entries (and costs
    the same bcrypt time, so answers do not reveal which names exist).
    """

    type_name = "BasicAuthMiddleware"
    challenges = (BASIC_CHALLENGE,)

    def __init__(self, conf: BasicAuthConf, where: str) -> None:
        super().__init__(where)
        text, source = read_secret_source(conf, "htpasswdFile", "htpasswdEnv", where)
        self.verifier = HtpasswdVerifier(parse_htpasswd(text, f"{where} ({source})"))

    async def identify(self, creds: RequestCredentials) -> Identity | None:
        basic = basic_credentials(creds)
        if basic is None:
            return None
        ok = await self.verifier.verify(basic.user, basic.password)
        if ok is None:
            return None
        if ok:
            return Identity(basic.user, "htpasswd", Proof.VERIFIED)
        raise Unauthorized(BAD_PASSWORD, BASIC_CHALLENGE)
