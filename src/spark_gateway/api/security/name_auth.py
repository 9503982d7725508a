"""The entries that never check a secret: allow/deny lists of user names, and a proxy's user header.

None of them takes a name on a client's word. The lists filter the user that a secret-checking entry
(or a trusted proxy) established; the regexes must match the WHOLE name (`alice` does not admit
`malice`, unlike the reference gateway). A name from a Basic header or a user header becomes the user
only when the connection comes from one of the entry's `conf.trustedProxies` - the proxy that checked
the password - and from anywhere else it is ignored.
"""

from __future__ import annotations

import logging
import re

from spark_gateway.api.security.credentials import RequestCredentials, valid_user_name
from spark_gateway.api.security.identity import (
    BASIC_CHALLENGE,
    Authenticator,
    Identity,
    Proof,
    TrustedProxies,
    basic_credentials,
)
from spark_gateway.domain.errors import Forbidden, Unauthorized
from spark_gateway.middleware_settings import HeaderAuthConf, RegexAllowConf, RegexDenyConf

log = logging.getLogger("spark_gateway.security")

ANY_NAME = ".+"


class RegexBasicAuthAllow(Authenticator):
    """`conf.allow: [regex]`: the user must fully match one, else 403.

    With `conf.trustedProxies`, a Basic user name sent from one of those networks becomes the user
    (the proxy checked its password); from anywhere else a Basic name proves nothing.
    """

    type_name = "RegexBasicAuthAllowMiddleware"
    challenges = (BASIC_CHALLENGE,)

    def __init__(self, conf: RegexAllowConf, where: str) -> None:
        super().__init__(where)
        self.patterns = [re.compile(p) for p in conf.allow]
        self.trusted = TrustedProxies(conf.trustedProxies)

    async def identify(self, creds: RequestCredentials) -> Identity | None:
        if not self.trusted.trusts(creds.client):
            return None
        basic = basic_credentials(creds)
        return Identity(basic.user, "proxy-basic", Proof.TRUSTED) if basic else None

    def check(self, identity: Identity) -> None:
        if not any(p.fullmatch(identity.user) for p in self.patterns):
            raise Forbidden(f"user '{identity.user}' is not in the allow list")


class RegexBasicAuthDeny(Authenticator):
    """`conf.deny: [regex]`: refuses (403) the established user when it fully matches one."""

    type_name = "RegexBasicAuthDenyMiddleware"
    challenges = (BASIC_CHALLENGE,)

    def __init__(self, conf: RegexDenyConf, where: str) -> None:
        super().__init__(where)
        self.patterns = [re.compile(p) for p in conf.deny]

    def check(self, identity: Identity) -> None:
        if any(p.fullmatch(identity.user) for p in self.patterns):
            raise Forbidden(f"user '{identity.user}' is denied")


class HeaderAuth(Authenticator):
    """`conf.headers: [{key, validation}]`: the user name a trusted proxy put in a header.

    Only connections from `conf.trustedProxies` (required) are believed. The first configured header
    that is present and fully matches its `validation` (default: any valid name) wins; a present but
    invalid value from the proxy is a 401.
    """

    type_name = "HeaderAuthMiddleware"

    def __init__(self, conf: HeaderAuthConf, where: str) -> None:
        super().__init__(where)
        self.headers = [(h.key, h.key.lower(), re.compile(h.validation or ANY_NAME)) for h in conf.headers]
        self.trusted = TrustedProxies(conf.trustedProxies)

    async def identify(self, creds: RequestCredentials) -> Identity | None:
        if not self.trusted.trusts(creds.client):
            if any(creds.header(name) for _, name, _ in self.headers):
                log.info("%s: ignored a user header from untrusted %s", self.where, creds.client)
            return None
        invalid: str | None = None
        for key, name, pattern in self.headers:
            raw = creds.header(name)
            if not raw:
                continue
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                value = ""
            if valid_user_name(value) and pattern.fullmatch(value):
                return Identity(value, "header", Proof.TRUSTED)
            invalid = invalid or key
        if invalid is not None:
            raise Unauthorized(f"header {invalid} does not hold a valid user name")
        return None
