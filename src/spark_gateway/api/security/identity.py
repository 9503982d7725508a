"""What an authentication entry answers, and the trust rule every entry follows.

A request's user is either VERIFIED (an entry checked a secret: an htpasswd password, a service token)
or TRUSTED (a proxy listed in the entry's `conf.trustedProxies` vouched for it). Nothing else makes a
user: an entry that cannot verify or trust a name leaves it alone. The chain runs in config order, the
first entry that establishes a user wins (a later entry never replaces it, so a forged header cannot
override a checked password), and the allow/deny lists then filter that user.

Entries refuse by raising the domain errors (`Unauthorized`, `Forbidden`); `api.errors` renders them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

from spark_gateway.api.security.credentials import BasicCredentials, CredentialError, RequestCredentials
from spark_gateway.domain.errors import Unauthorized
from spark_gateway.middleware_settings import Network, networks

BASIC_CHALLENGE = 'Basic realm="spark-gateway"'
BEARER_CHALLENGE = 'Bearer realm="spark-gateway"'
BAD_PASSWORD = "invalid user name or password"  # the same for unknown names and wrong passwords
BAD_SERVICE = "invalid service name or token"  # the same for unknown services and wrong tokens


class Proof(Enum):
    VERIFIED = "verified"  # a secret was checked
    TRUSTED = "trusted"  # a trusted proxy vouched for the name


@dataclass(frozen=True)
class Identity:
    user: str
    method: str  # how: "htpasswd", "service-token", "header", "proxy-basic"
    proof: Proof


class Authenticator:
    """One `gateway.middleware` entry. `where` is its config position, used in log lines."""

    type_name = ""
    challenges: tuple[str, ...] = ()

    def __init__(self, where: str) -> None:
        self.where = where

    async def identify(self, creds: RequestCredentials) -> Identity | None:
        """The user this entry establishes, or None; raises Unauthorized for bad credentials.

        Only called while no earlier entry has established a user."""
        return None

    def check(self, identity: Identity) -> None:
        """Filter the established user: raise Forbidden to refuse it."""


class TrustedProxies:
    """The peers (CIDR networks) an entry believes about who the user is."""

    def __init__(self, cidrs: list[str] | None) -> None:
        self.networks: tuple[Network, ...] = networks(cidrs)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, client: str | None) -> bool:
        if client is None:
            return False
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def basic_credentials(creds: RequestCredentials) -> BasicCredentials | None:
    """Basic credentials, None without; a malformed header is a 401 at once."""
    try:
        return creds.basic()
    except CredentialError as exc:
        raise Unauthorized(str(exc), BASIC_CHALLENGE) from None
