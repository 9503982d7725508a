"""Authorization rules: who may view, modify, list and impersonate."""

from __future__ import annotations

import pytest

from spark_gateway.domain.access import AccessPolicy
from spark_gateway.domain.errors import Forbidden, Unauthorized

POLICY = AccessPolicy.build(auth_enabled=True, admins=["root", " "], viewers=["auditor"])
ANONYMOUS = AccessPolicy.anonymous()


@pytest.mark.parametrize(
    ("user", "owner", "proxy_user", "view", "modify"),
    [
        ("alice", "alice", None, True, True),  # owner
        ("alice", "bob", "alice", True, True),  # runs as alice (LIVY-592)
        ("bob", "alice", None, False, False),  # someone else
        ("bob", "alice", "alice", False, False),
        ("root", "alice", None, True, True),  # admin
        ("auditor", "alice", None, True, False),  # viewer
        ("alice", None, None, False, False),  # created anonymously: nobody's
        ("root", None, None, True, True),
        ("auditor", None, None, True, False),
        (None, "alice", None, False, False),  # no user while auth is on
        (None, None, None, False, False),
        ("Alice", "alice", None, False, False),  # names are case-sensitive
    ],
)
def test_view_and_modify(
    user: str | None, owner: str | None, proxy_user: str | None, view: bool, modify: bool
) -> None:
    assert POLICY.can_view(user, owner, proxy_user) is view
    assert POLICY.can_modify(user, owner, proxy_user) is modify
    assert ANONYMOUS.can_view(user, owner, proxy_user)
    assert ANONYMOUS.can_modify(user, owner, proxy_user)


@pytest.mark.parametrize(
    ("user", "target", "allowed"),
    [
        ("alice", None, True),
        ("alice", "", True),
        ("alice", "alice", True),
        ("alice", "bob", False),
        ("auditor", "bob", False),  # viewers may not impersonate
        ("root", "bob", True),
        (None, "bob", False),
    ],
)
def test_impersonation(user: str | None, target: str | None, allowed: bool) -> None:
    assert POLICY.can_impersonate(user, target) is allowed
    assert ANONYMOUS.can_impersonate(user, target)


def test_resolve_proxy_user() -> None:
    assert POLICY.resolve_proxy_user("alice", None) == "alice"
    assert POLICY.resolve_proxy_user("alice", "alice") == "alice"
    assert POLICY.resolve_proxy_user("root", "bob") == "bob"
    with pytest.raises(Forbidden, match=r"User 'alice' not allowed to impersonate 'bob'\."):
        POLICY.resolve_proxy_user("alice", "bob")
    assert ANONYMOUS.resolve_proxy_user(None, "bob") == "bob"
    assert ANONYMOUS.resolve_proxy_user(None, None) is None


def test_visible_owner_filter() -> None:
    assert POLICY.visible_owner_filter("alice") == "alice"
    assert POLICY.visible_owner_filter("root") is None
    assert POLICY.visible_owner_filter("auditor") is None
    assert ANONYMOUS.visible_owner_filter(None) is None
    with pytest.raises(Unauthorized):
        POLICY.visible_owner_filter(None)


def test_require_modify() -> None:
    POLICY.require_modify("alice", "alice", None, "batch 3")
    with pytest.raises(Forbidden, match="user 'bob' may not modify batch 3"):
        POLICY.require_modify("bob", "alice", None, "batch 3")
    with pytest.raises(Unauthorized):
        POLICY.require_modify(None, "alice", None, "batch 3")


def test_wildcards_and_blanks() -> None:
    everyone_views = AccessPolicy.build(auth_enabled=True, viewers=["*"])
    assert everyone_views.can_view("anyone", "alice")
    assert not everyone_views.can_modify("anyone", "alice")
    assert everyone_views.visible_owner_filter("anyone") is None
    everyone_admin = AccessPolicy.build(auth_enabled=True, admins=["*"])
    assert everyone_admin.can_impersonate("anyone", "bob")
    assert not everyone_admin.is_admin(None)
    assert POLICY.admins == frozenset({"root"})  # blank entries are dropped
