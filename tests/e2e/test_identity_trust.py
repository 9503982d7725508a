"""Whose word the real gateway takes for a user name: only a checked secret, or a trusted proxy.

Each test starts `spark-gateway serve` with one chain and submits batches: the stored `owner` shows
whom the gateway believed. Unverified Basic names (a wrong password, an unknown service, a name that
merely matches an allow pattern) and user headers from untrusted addresses get 401; a later entry
never replaces a verified user; known and unknown names get identical refusals.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.auth_setup import (
    ELSEWHERE,
    LOCALHOST,
    PASSWORDS,
    TOKENS,
    allow,
    basic,
    basic_auth,
    create_batch,
    gateway_config,
    header_auth,
    readme_chain,
    service_tokens,
)
from tests.e2e.conftest import GatewayStarter

pytestmark = pytest.mark.e2e
BAD_PASSWORD = {"msg": "invalid user name or password"}
BAD_SERVICE = {"msg": "invalid service name or token"}


def refusal(response: httpx.Response) -> tuple[int, object, list[str]]:
    return response.status_code, response.json(), response.headers.get_list("www-authenticate")


@pytest.mark.parametrize("order", ["readme", "allow-first"])
def test_unverified_basic_names_are_refused_in_any_order(
    start_gateway: GatewayStarter, tmp_path: Path, order: str
) -> None:
    chain = readme_chain(tmp_path)
    if order == "allow-first":
        chain = [chain[2], chain[0], chain[1]]
    gw = start_gateway(gateway_config(tmp_path, chain))
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        # The attacks: a known service with a wrong token, a new name matching the pattern,
        # an admin's name with a guess. None is verified by any entry.
        for user, password in [("svc-airflow", "wrong"), ("svc-evil", "x"), ("root", "guess")]:
            response = create_batch(http, basic(user, password))
            assert (response.status_code, response.json()) == (401, BAD_PASSWORD), user
        # Unknown name and wrong password are indistinguishable.
        assert refusal(create_batch(http, basic("nobody", "x"))) == refusal(
            create_batch(http, basic("alice", "wrong"))
        )
        assert http.get("/api/livy/batches").status_code == 401
        # What is verified passes, and the allow list still filters it.
        for user, headers in [
            ("alice", basic("alice", PASSWORDS["alice"])),
            ("svc-shadow", basic("svc-shadow", PASSWORDS["svc-shadow"])),
            ("svc-airflow", basic("svc-airflow", TOKENS["svc-airflow"])),
        ]:
            created = create_batch(http, headers)
            assert (created.status_code, created.json()["owner"]) == (201, user)
        carol = create_batch(http, basic("carol", PASSWORDS["carol"]))
        assert (carol.status_code, carol.json()) == (403, {"msg": "user 'carol' is not in the allow list"})


def test_service_tokens_in_every_form_and_no_name_enumeration(
    start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    gw = start_gateway(gateway_config(tmp_path, [basic_auth(tmp_path), service_tokens(tmp_path)]))
    token = TOKENS["svc-spark"]
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        for headers in [
            {"X-Spark-Gateway-User": "svc-spark", "X-Spark-Gateway-Token": token},
            {"X-Spark-Gateway-User": "svc-spark", "Authorization": f"Bearer {token}"},
            basic("svc-spark", token),
        ]:
            created = create_batch(http, headers)
            assert (created.status_code, created.json()["owner"]) == (201, "svc-spark")
        wrong_token = create_batch(http, {"X-Spark-Gateway-User": "svc-spark", "X-Spark-Gateway-Token": "x"})
        unknown = create_batch(http, {"X-Spark-Gateway-User": "svc-nobody", "X-Spark-Gateway-Token": "x"})
        assert refusal(wrong_token) == refusal(unknown)
        assert (unknown.status_code, unknown.json()) == (401, BAD_SERVICE)
        wrong_bearer = create_batch(http, {"X-Spark-Gateway-User": "svc-spark", "Authorization": "Bearer x"})
        unknown_bearer = create_batch(
            http, {"X-Spark-Gateway-User": "svc-nobody", "Authorization": "Bearer x"}
        )
        assert refusal(wrong_bearer) == refusal(unknown_bearer) == refusal(unknown)
        # A Bearer token alone names no service; a token is no password.
        assert create_batch(http, {"Authorization": f"Bearer {token}"}).status_code == 401
        assert refusal(create_batch(http, basic("svc-spark", "wrong"))) == refusal(
            create_batch(http, basic("svc-none", "wrong"))
        )


def test_user_headers_from_untrusted_addresses_are_ignored(
    start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    chain = [basic_auth(tmp_path), header_auth(ELSEWHERE)]
    gw = start_gateway(gateway_config(tmp_path, chain))
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        forged = create_batch(http, {"X-Forwarded-User": "root"})
        assert (forged.status_code, forged.json()) == (401, {"msg": "authentication required"})
        # A verified user stays who they are, whatever header comes along.
        alice = create_batch(http, {**basic("alice", PASSWORDS["alice"]), "X-Forwarded-User": "root"})
        assert (alice.status_code, alice.json()["owner"]) == (201, "alice")
        listed = http.get("/api/livy/batches", headers={"X-Forwarded-User": "root"})
        assert listed.status_code == 401


def test_a_trusted_proxy_vouches_but_never_replaces_a_verified_user(
    start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    chain = [basic_auth(tmp_path), header_auth(LOCALHOST)]
    gw = start_gateway(gateway_config(tmp_path, chain))
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        vouched = create_batch(http, {"X-Forwarded-User": "bob"})
        assert (vouched.status_code, vouched.json()["owner"]) == (201, "bob")
        alice = create_batch(http, {**basic("alice", PASSWORDS["alice"]), "X-Forwarded-User": "root"})
        assert (alice.status_code, alice.json()["owner"]) == (201, "alice")
        # A wrong password is refused even though the proxy's header would name someone.
        wrong = create_batch(http, {**basic("alice", "wrong"), "X-Forwarded-User": "root"})
        assert (wrong.status_code, wrong.json()) == (401, BAD_PASSWORD)


def test_allow_list_takes_basic_names_only_from_its_trusted_proxies(
    start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    """The seed's deployment: an authenticating proxy in front, the allow list naming who may pass."""
    behind_proxy = start_gateway(gateway_config(tmp_path, [allow("gateway-user", trusted=LOCALHOST)]))
    with httpx.Client(base_url=behind_proxy.url, timeout=30) as http:
        created = create_batch(http, basic("gateway-user", "checked by the proxy"))
        assert (created.status_code, created.json()["owner"]) == (201, "gateway-user")
        other = create_batch(http, basic("someone-else", "x"))
        assert (other.status_code, other.json()) == (
            403,
            {"msg": "user 'someone-else' is not in the allow list"},
        )
        assert create_batch(http, {}).status_code == 401

    not_from_proxy = start_gateway(
        gateway_config(tmp_path, [allow("alice", trusted=ELSEWHERE), basic_auth(tmp_path)])
    )
    with httpx.Client(base_url=not_from_proxy.url, timeout=30) as http:
        assert create_batch(http, basic("alice", "anything")).status_code == 401
        verified = create_batch(http, basic("alice", PASSWORDS["alice"]))
        assert (verified.status_code, verified.json()["owner"]) == (201, "alice")
