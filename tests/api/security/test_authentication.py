"""The authentication chain: every middleware type against every kind of caller, and the edge cases.

httpx's ASGI transport connects from 127.0.0.1, so `LOCAL` is the trusted proxy of the entries that
take a name on a proxy's word; `call_asgi` requests come from 10.0.0.1, which no entry here trusts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from spark_gateway.api.security.auth_chain import AuthenticationMiddleware, build_authenticators
from tests.api.security.helpers import (
    GATEWAY_ID,
    basic,
    call_asgi,
    client,
    http_scope,
    make_settings,
    secured,
    write_htpasswd,
)

PASSWORDS = {"alice": "pw-alice", "bob": "pw-bob", "root": "pw-root"}
TOKENS = {"alice": "tok-alice-0123456789", "bob": "tok-bob-0123456789", "root": "tok-root-0123456789"}
ADMINS = ["root"]
LOCAL = ["127.0.0.0/8"]


def token_map(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.yaml"
    path.write_text("".join(f'{name}: "{token}"\n' for name, token in TOKENS.items()))
    return path


def setups(tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    htpasswd = str(write_htpasswd(tmp_path / "htpasswd", PASSWORDS))
    tokens = str(token_map(tmp_path))
    return {
        "htpasswd": [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": htpasswd}}],
        "regex-allow": [
            {
                "type": "RegexBasicAuthAllowMiddleware",
                "conf": {"allow": ["alice", "bob", "root"], "trustedProxies": LOCAL},
            }
        ],
        "htpasswd+deny": [
            {"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": htpasswd}},
            {"type": "RegexBasicAuthDenyMiddleware", "conf": {"deny": ["mallory", "eve.*"]}},
        ],
        "header": [
            {
                "type": "HeaderAuthMiddleware",
                "conf": {
                    "headers": [{"key": "X-Forwarded-User", "validation": "[a-z]+"}],
                    "trustedProxies": LOCAL,
                },
            }
        ],
        "token-headers": [{"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapFile": tokens}}],
        "token-bearer": [{"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapFile": tokens}}],
        "token-basic": [{"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapFile": tokens}}],
    }


def credentials(setup: str, user: str, *, wrong: bool = False) -> dict[str, str]:
    """Right (or wrong) credentials of `user` in the style `setup` expects."""
    if setup in ("htpasswd", "htpasswd+deny"):
        return basic(user, "nope" if wrong else PASSWORDS[user])
    if setup == "regex-allow":
        return {"Authorization": "Basic !!not-base64!!"} if wrong else basic(user, "anything")
    if setup == "header":
        return {"X-Forwarded-User": "Alice!" if wrong else user}
    token = "tok-wrong-0123456789" if wrong else TOKENS[user]
    if setup == "token-headers":
        return {"X-Spark-Gateway-User": user, "X-Spark-Gateway-Token": token}
    if setup == "token-bearer":
        return {"X-Spark-Gateway-User": user, "Authorization": f"Bearer {token}"}
    return basic(user, token)


SETUPS = [
    "htpasswd",
    "regex-allow",
    "htpasswd+deny",
    "header",
    "token-headers",
    "token-bearer",
    "token-basic",
]
# caller -> expected status of DELETE on an application owned by alice (admins may delete anything;
# the echo app's route, unlike the real gateway's, answers 403 for other users).
CALLERS = {"none": 401, "wrong": 401, "right": 200, "other": 403, "admin": 200}


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("setup", SETUPS)
async def test_matrix(tmp_path: Path, setup: str, caller: str) -> None:
    settings = make_settings(tmp_path, setups(tmp_path)[setup], authorization={"admins": ADMINS})
    headers = {
        "none": {},
        "wrong": credentials(setup, "alice", wrong=True),
        "right": credentials(setup, "alice"),
        "other": credentials(setup, "bob"),
        "admin": credentials(setup, "root"),
    }[caller]
    async with client(secured(settings)) as http:
        response = await http.delete(f"/api/v1/applications/{GATEWAY_ID}", headers=headers)
        assert response.status_code == CALLERS[caller], response.text
        assert response.headers["content-type"].startswith("application/json")
        if response.status_code == 401:
            assert "www-authenticate" in response.headers
            assert set(response.json()) == {"error"}
        if caller in ("right", "admin"):
            assert response.json()["user"] == {"right": "alice", "admin": "root"}[caller]


@pytest.mark.parametrize("setup", SETUPS)
async def test_user_and_method_reach_the_route(tmp_path: Path, setup: str) -> None:
    settings = make_settings(tmp_path, setups(tmp_path)[setup])
    async with client(secured(settings)) as http:
        body = (await http.get("/whoami", headers=credentials(setup, "bob"))).json()
    method = {"htpasswd": "htpasswd", "htpasswd+deny": "htpasswd", "regex-allow": "proxy-basic"}
    assert body == {
        "user": "bob",
        "auth_method": method.get(setup, "header" if setup == "header" else "service-token"),
    }


async def test_no_middleware_means_anonymous(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with client(secured(settings)) as http:
        response = await http.post("/whoami")
        assert response.json() == {"user": None, "auth_method": "anonymous"}
        # Credentials are ignored, nobody is required to send any.
        assert (await http.get("/whoami", headers=basic("alice", "x"))).json()["user"] is None
        assert (await http.delete(f"/api/v1/applications/{GATEWAY_ID}")).status_code == 200


async def test_regex_allow_matches_whole_name(tmp_path: Path) -> None:
    conf = {"allow": ["alice", "svc-[a-z]+", "^anchored$"], "trustedProxies": LOCAL}
    settings = make_settings(tmp_path, [{"type": "RegexBasicAuthAllowMiddleware", "conf": conf}])
    async with client(secured(settings)) as http:
        for user, status in [
            ("alice", 200),
            ("malice", 403),
            ("alicex", 403),
            ("svc-etl", 200),
            ("svc-etl2", 403),
            ("anchored", 200),
        ]:
            response = await http.get("/whoami", headers=basic(user, "pw"))
            assert response.status_code == status, user
        denied = await http.get("/whoami", headers=basic("malice", "pw"))
        assert denied.json() == {"error": "user 'malice' is not in the allow list"}


async def test_regex_deny_matches_whole_name_and_checks_the_established_user(tmp_path: Path) -> None:
    middleware = [
        {"type": "HeaderAuthMiddleware", "conf": {"headers": [{"key": "X-User"}], "trustedProxies": LOCAL}},
        {"type": "RegexBasicAuthDenyMiddleware", "conf": {"deny": ["bob"]}},
    ]
    settings = make_settings(tmp_path, middleware)
    async with client(secured(settings)) as http:
        assert (await http.get("/whoami", headers={"X-User": "bobby"})).status_code == 200
        denied = await http.get("/whoami", headers={"X-User": "bob"})
        assert denied.status_code == 403
        assert denied.json() == {"error": "user 'bob' is denied"}


async def test_the_first_established_user_is_never_replaced(tmp_path: Path) -> None:
    middleware = [
        {"type": "HeaderAuthMiddleware", "conf": {"headers": [{"key": "X-User"}], "trustedProxies": LOCAL}},
        {
            "type": "RegexBasicAuthAllowMiddleware",
            "conf": {"allow": ["alice", "carol"], "trustedProxies": LOCAL},
        },
    ]
    settings = make_settings(tmp_path, middleware)
    async with client(secured(settings)) as http:
        both = {"X-User": "alice", **basic("carol", "x")}
        assert (await http.get("/whoami", headers=both)).json() == {"user": "alice", "auth_method": "header"}
        carol = await http.get("/whoami", headers=basic("carol", "x"))
        assert carol.json() == {"user": "carol", "auth_method": "proxy-basic"}


async def test_htpasswd_and_service_tokens_combine(tmp_path: Path) -> None:
    tokens = tmp_path / "svc-tokens.yaml"
    tokens.write_text('svc: "tok-svc-0123456789"\n')
    middleware = [
        *setups(tmp_path)["htpasswd"],
        {"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapFile": str(tokens)}},
    ]
    settings = make_settings(tmp_path, middleware)
    async with client(secured(settings)) as http:
        person = await http.get("/whoami", headers=basic("alice", "pw-alice"))
        assert person.json() == {"user": "alice", "auth_method": "htpasswd"}
        # A name that is not in the htpasswd file is left to the service-token entry.
        service = await http.get("/whoami", headers=basic("svc", "tok-svc-0123456789"))
        assert service.json() == {"user": "svc", "auth_method": "service-token"}
        bad = await http.get("/whoami", headers=basic("svc", "tok-svc-wrong"))
        assert bad.status_code == 401
        assert bad.json() == {"error": "invalid user name or password"}
        assert bad.headers.get_list("www-authenticate") == [
            'Basic realm="spark-gateway"',
            'Bearer realm="spark-gateway"',
        ]


async def test_unknown_and_wrong_password_look_the_same(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, setups(tmp_path)["htpasswd"])
    async with client(secured(settings)) as http:
        unknown = await http.get("/whoami", headers=basic("nobody", "pw"))
        wrong = await http.get("/whoami", headers=basic("alice", "pw"))
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {"error": "invalid user name or password"}
    assert wrong.headers["www-authenticate"] == 'Basic realm="spark-gateway"'


async def test_basic_password_may_contain_colons_and_be_long(tmp_path: Path) -> None:
    long_password = "p" * 80  # bcrypt (and Apache) look at the first 72 bytes only
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "a:b:c", "bob": long_password})
    settings = make_settings(
        tmp_path, [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(htpasswd)}}]
    )
    async with client(secured(settings)) as http:
        assert (await http.get("/whoami", headers=basic("alice", "a:b:c"))).status_code == 200
        assert (await http.get("/whoami", headers=basic("alice", "a:b"))).status_code == 401
        assert (await http.get("/whoami", headers=basic("bob", long_password))).status_code == 200
        # Repeated requests are answered from the success cache and still correct.
        assert (await http.get("/whoami", headers=basic("alice", "a:b:c"))).status_code == 200
        assert (await http.get("/whoami", headers=basic("alice", "a:b:c:d"))).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    ["Basic", "Basic !!!", "Basic " + "YWxpY2U=", "Basic Og==", "Basic IGFsaWNlOng=", "Bearer", "Digest abc"],
)
async def test_malformed_basic_header_is_401(tmp_path: Path, authorization: str) -> None:
    # "YWxpY2U=" has no colon, "Og==" is an empty name, "IGFsaWNlOng=" is " alice:x".
    settings = make_settings(tmp_path, setups(tmp_path)["htpasswd"])
    async with client(secured(settings)) as http:
        response = await http.get("/api/livy/whoami", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert set(response.json()) == {"msg"}


async def test_two_authorization_headers_are_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, setups(tmp_path)["htpasswd"])
    app = secured(settings)
    header = basic("alice", "pw-alice")["Authorization"].encode()
    sent = await call_asgi(app, _scope([(b"authorization", header), (b"authorization", header)]))
    assert sent[0]["status"] == 401


async def test_header_auth_believes_only_trusted_proxies(tmp_path: Path) -> None:
    conf = {"headers": [{"key": "X-User"}], "trustedProxies": ["10.0.0.0/8"]}
    settings = make_settings(tmp_path, [{"type": "HeaderAuthMiddleware", "conf": conf}])
    app = secured(settings)
    async with client(app) as http:  # httpx connects from 127.0.0.1: not trusted
        assert (await http.get("/whoami", headers={"X-User": "alice"})).status_code == 401
    sent = await call_asgi(app, _scope([(b"x-user", b"alice")]))  # from 10.0.0.1
    assert sent[0]["status"] == 200


async def test_service_token_errors(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, setups(tmp_path)["token-headers"])
    async with client(secured(settings)) as http:
        missing = await http.get("/whoami", headers={"X-Spark-Gateway-User": "alice"})
        assert (missing.status_code, missing.json()) == (401, {"error": "X-Spark-Gateway-Token is not set"})
        assert missing.headers.get_list("www-authenticate")[0] == 'Bearer realm="spark-gateway"'
        # An unknown service and a known one with a wrong token get the same answer.
        unknown = await http.get(
            "/api/livy/whoami", headers={"X-Spark-Gateway-User": "x", "X-Spark-Gateway-Token": "t"}
        )
        wrong = await http.get(
            "/api/livy/whoami", headers={"X-Spark-Gateway-User": "alice", "X-Spark-Gateway-Token": "t"}
        )
        assert (unknown.status_code, unknown.json()) == (401, {"msg": "invalid service name or token"})
        assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())
        assert wrong.headers.get_list("www-authenticate") == unknown.headers.get_list("www-authenticate")
        bearer_only = await http.get("/whoami", headers={"Authorization": f"Bearer {TOKENS['alice']}"})
        assert bearer_only.status_code == 401
        assert bearer_only.headers.get_list("www-authenticate")[0] == 'Bearer realm="spark-gateway"'


@pytest.mark.parametrize(
    "presented",
    [
        TOKENS["alice"][:-1],  # a prefix
        TOKENS["alice"] + "0",  # an extension
        "X" + TOKENS["alice"][1:],  # same length, first byte differs
        TOKENS["alice"][:-1] + "X",  # same length, last byte differs
        "tök-alice-0123456789",  # non-ASCII must not crash the comparison
        " ",
    ],
)
async def test_token_comparison_rejects_near_misses(tmp_path: Path, presented: str) -> None:
    settings = make_settings(tmp_path, setups(tmp_path)["token-headers"])
    async with client(secured(settings)) as http:
        response = await http.get(
            "/whoami",
            headers=[("X-Spark-Gateway-User", "alice"), ("X-Spark-Gateway-Token", presented.encode("utf-8"))],
        )
        assert response.status_code == 401
        response = await http.get("/whoami", headers=basic("alice", presented))
        assert response.status_code == 401


async def test_secrets_never_logged_or_echoed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = setups(tmp_path)
    settings = make_settings(tmp_path, s["htpasswd"] + s["token-headers"])
    caplog.set_level(logging.DEBUG)
    bodies = []
    async with client(secured(settings)) as http:
        for headers in [
            basic("alice", "pw-alice"),
            basic("alice", "guess-secret-1"),
            {"X-Spark-Gateway-User": "bob", "X-Spark-Gateway-Token": TOKENS["bob"]},
            {"X-Spark-Gateway-User": "bob", "X-Spark-Gateway-Token": "guess-secret-2"},
        ]:
            bodies.append((await http.post("/whoami", headers=headers)).text)
    logged = caplog.text + "".join(bodies) + settings.audit_log_path().read_text()
    assert "authentication failed" in caplog.text
    for secret in ["pw-alice", "guess-secret-1", TOKENS["bob"], "guess-secret-2"]:
        assert secret not in logged


@pytest.mark.parametrize("path", ["/health", "/docs", "/openapi.json", "/metrics"])
async def test_open_paths(tmp_path: Path, path: str) -> None:
    settings = make_settings(tmp_path, setups(tmp_path)["htpasswd"])
    async with client(secured(settings)) as http:
        assert (await http.get(path)).status_code == 200
        assert (await http.get("/health/deep")).status_code == 401  # only the exact paths are open


@pytest.mark.parametrize(
    ("flag", "path"), [("protectHealth", "/health"), ("protectDocs", "/docs"), ("protectMetrics", "/metrics")]
)
async def test_protected_open_paths(tmp_path: Path, flag: str, path: str) -> None:
    settings = make_settings(tmp_path, setups(tmp_path)["htpasswd"], authorization={flag: True})
    async with client(secured(settings)) as http:
        assert (await http.get(path)).status_code == 401
        assert (await http.get(path, headers=basic("alice", "pw-alice"))).status_code == 200


async def test_error_shapes_livy_vs_v1(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, setups(tmp_path)["htpasswd"])
    async with client(secured(settings)) as http:
        livy = await http.get("/api/livy/whoami")
        v1 = await http.delete(f"/api/v1/applications/{GATEWAY_ID}")
        other = await http.get("/whoami")
    assert livy.json() == {"msg": "authentication required"}
    assert v1.json() == other.json() == {"error": "authentication required"}
    for response in (livy, v1, other):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"


async def test_websocket_without_credentials_is_closed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, setups(tmp_path)["htpasswd"])
    middleware = AuthenticationMiddleware(
        _never_called, build_authenticators(settings.gateway.middleware), frozenset()
    )
    sent = await call_asgi(middleware, {**_scope([]), "type": "websocket"})
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "authentication required"}]


async def _never_called(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the app must not run")


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return dict(http_scope("GET", "/whoami", headers))
