"""Who may see, change and impersonate whom: the gateway's authorization rules in one place.

The reference gateway lets every authenticated caller see and delete everything and impersonate anyone;
Livy has ACLs and superusers. These rules sit in between and are pure (no framework, no I/O) so that
the Livy and v1 services apply exactly the same decisions and tests can cover them as a table:

* anonymous mode (no authentication middleware configured): everything is allowed, like Livy without auth;
* admins (``gateway.authorization.admins``) may view, modify and impersonate anything;
* viewers (``gateway.authorization.viewers``) may view everything and modify only what is theirs;
* everyone else sees and changes only applications they own or that run as them (their proxy user,
  as Livy allows since LIVY-592), and may only name themselves as proxy user.

Applications created anonymously (owner ``None``) belong to nobody: once authentication is enabled only
admins and viewers see them. ``"*"`` in either list means every authenticated user.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from spark_gateway.domain.errors import Forbidden, Unauthorized

WILDCARD = "*"


@dataclass(frozen=True)
class AccessPolicy:
    """The authorization rules; build it once from settings and hand it to the services."""

    auth_enabled: bool
    admins: frozenset[str] = field(default_factory=frozenset)
    viewers: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls, *, auth_enabled: bool, admins: Iterable[str] = (), viewers: Iterable[str] = ()
    ) -> AccessPolicy:
        """`admins`/`viewers` come from `settings.gateway.authorization`; blanks are ignored."""
        return cls(
            auth_enabled=auth_enabled,
            admins=frozenset(name.strip() for name in admins if name.strip()),
            viewers=frozenset(name.strip() for name in viewers if name.strip()),
        )

    @classmethod
    def anonymous(cls) -> AccessPolicy:
        """No authentication configured: every caller may do everything."""
        return cls(auth_enabled=False)

    # Roles -------------------------------------------------------------------------------------

    def is_admin(self, user: str | None) -> bool:
        if not self.auth_enabled:
            return True
        return user is not None and (user in self.admins or WILDCARD in self.admins)

    def is_viewer(self, user: str | None) -> bool:
        """Viewer or admin: may see every application."""
        if self.is_admin(user):
            return True
        return user is not None and (user in self.viewers or WILDCARD in self.viewers)

    # Decisions ---------------------------------------------------------------------------------

    def can_view(self, user: str | None, owner: str | None, proxy_user: str | None = None) -> bool:
        if self.is_viewer(user):
            return True
        return self._is_party(user, owner, proxy_user)

    def can_modify(self, user: str | None, owner: str | None, proxy_user: str | None = None) -> bool:
        if self.is_admin(user):
            return True
        return self._is_party(user, owner, proxy_user)

    def can_impersonate(self, user: str | None, target: str | None) -> bool:
        """May `user` run an application as `target`? Naming nobody or oneself is always allowed."""
        if not target or not self.auth_enabled:
            return True
        if user is None:
            return False
        return target == user or self.is_admin(user)

    def visible_owner_filter(self, user: str | None) -> str | None:
        """`None`: the caller sees every application. A name: only rows whose owner OR proxy user is it.

        Matching the proxy user too keeps lists consistent with `can_view`. Raises Unauthorized for a
        missing user while authentication is on (a route that forgot the auth chain must not list all).
        """
        if self.is_viewer(user):
            return None
        if user is None:
            raise Unauthorized("authentication required")
        return user

    # Helpers that raise the domain errors, for services --------------------------------------------

    def resolve_proxy_user(self, user: str | None, requested: str | None) -> str | None:
        """The proxy user a new application runs as: the requested one if allowed, else the caller.

        Raises Forbidden (403) with Livy's wording when the caller may not impersonate `requested`.
        """
        if not requested:
            return user
        if not self.can_impersonate(user, requested):
            raise Forbidden(f"User '{user}' not allowed to impersonate '{requested}'.")
        return requested

    def require_modify(self, user: str | None, owner: str | None, proxy_user: str | None, what: str) -> None:
        """Raise Forbidden unless `user` may change or delete `what` (e.g. "batch 3")."""
        if not self.can_modify(user, owner, proxy_user):
            if user is None:
                raise Unauthorized("authentication required")
            raise Forbidden(f"user '{user}' may not modify {what}")

    def _is_party(self, user: str | None, owner: str | None, proxy_user: str | None) -> bool:
        if user is None:
            return False
        return user in (owner, proxy_user)
