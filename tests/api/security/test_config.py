"""Start-up validation of `gateway.middleware` and of the secret files, and where secrets may come from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spark_gateway.api.security import build_security
from spark_gateway.api.security.credentials import parse_htpasswd, parse_token_map
from spark_gateway.domain.errors import ConfigError
from tests.api.security.helpers import basic, client, echo_app, htpasswd_line, make_settings, secured


def build(tmp_path: Path, middleware: list[dict[str, Any]]) -> None:
    settings = make_settings(tmp_path, middleware)
    build_security(echo_app(settings), settings)


@pytest.mark.parametrize(
    ("middleware", "expected"),
    [
        ([{"type": "NoSuchMiddleware"}], r"gateway\.middleware\[0\]\.type: no builtin middleware with type"),
        (
            [
                {"type": "RegexBasicAuthAllowMiddleware", "conf": {"allow": ["ok"]}},
                {"type": "RegexBasicAuthDenyMiddleware", "conf": {"deny": ["fine", "(unclosed"]}},
            ],
            r"gateway\.middleware\[1\]\.conf\.deny\[1\]: invalid regular expression",
        ),
        (
            [{"type": "RegexBasicAuthAllowMiddleware", "conf": {"alow": ["x"]}}],
            r"gateway\.middleware\[0\]\.conf\.alow: unknown key",
        ),
        (
            [{"type": "RegexBasicAuthAllowMiddleware", "conf": {"allow": "alice"}}],
            r"gateway\.middleware\[0\]\.conf\.allow: Input should be a valid list",
        ),
        (
            [{"type": "HeaderAuthMiddleware", "conf": {"headers": [{"key": "X-User", "validation": "["}]}}],
            r"gateway\.middleware\[0\]\.conf\.headers\[0\]\.validation: invalid regular expression",
        ),
        (
            [{"type": "HeaderAuthMiddleware", "conf": {"headers": []}}],
            r"gateway\.middleware\[0\]\.conf\.headers: List should have at least 1 item",
        ),
        (
            [{"type": "HeaderAuthMiddleware", "conf": {"headers": [{"key": "X User"}]}}],
            r"gateway\.middleware\[0\]\.conf\.headers\[0\]\.key: must be an HTTP header name",
        ),
        (
            [
                {
                    "type": "HeaderAuthMiddleware",
                    "conf": {"headers": [{"key": "X"}], "trustedProxies": ["nope"]},
                }
            ],
            r"gateway\.middleware\[0\]\.conf\.trustedProxies",
        ),
        (
            [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": "/nonexistent/htpasswd"}}],
            r"gateway\.middleware\[0\]\.conf\.htpasswdFile: cannot read /nonexistent/htpasswd",
        ),
        (
            [{"type": "BasicAuthMiddleware"}],
            r"gateway\.middleware\[0\]\.conf: htpasswdFile or htpasswdEnv is required",
        ),
        (
            [{"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapFile": "/nonexistent/t.yaml"}}],
            r"gateway\.middleware\[0\]\.conf\.serviceTokenMapFile: cannot read",
        ),
        (
            [
                {
                    "type": "ServiceTokenAuthMiddleware",
                    "conf": {"serviceTokenMapFile": "a", "serviceTokenMapEnv": "B"},
                }
            ],
            r"set either serviceTokenMapFile or serviceTokenMapEnv, not both",
        ),
        (
            [
                {
                    "type": "ServiceTokenAuthMiddleware",
                    "conf": {"serviceTokenMapEnv": "SG_TEST_UNSET_VARIABLE"},
                }
            ],
            r"middleware\[0\]\.conf\.serviceTokenMapEnv: environment variable SG_TEST_UNSET_VARIABLE",
        ),
        (
            [
                {
                    "type": "ServiceTokenAuthMiddleware",
                    "conf": {"serviceTokenMapFile": "${SG_TEST_UNSET_VARIABLE}/t"},
                }
            ],
            r"environment variable SG_TEST_UNSET_VARIABLE is not set",
        ),
    ],
)
def test_bad_middleware_config_names_the_entry(
    tmp_path: Path, middleware: list[dict[str, Any]], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        build(tmp_path, middleware)


def test_service_token_default_path_is_the_reference_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"/conf/service-auth-config\.yaml"):
        build(tmp_path, [{"type": "ServiceTokenAuthMiddleware"}])


def test_token_map_rules() -> None:
    assert parse_token_map('svc.with.dots: "t1"\nother: t2\n', "w") == {
        "svc.with.dots": b"t1",
        "other": b"t2",
    }
    for text, message in [
        ("", "non-empty mapping"),
        ("- a\n- b\n", "non-empty mapping"),
        ("svc: 0123\n", "must be a string"),
        ("svc: {nested: x}\n", "must be a string"),
        ('svc: ""\n', "is empty"),
        ("svc: [unclosed\n", "not valid YAML"),
    ]:
        with pytest.raises(ConfigError, match=message) as error:
            parse_token_map(text, "w")
        assert "0123" not in str(error.value)  # a secret is never echoed


async def test_token_map_from_env_and_env_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_TOKENS", "svc-a: ${SG_TEST_TOKEN_A}\n")
    monkeypatch.setenv("SG_TEST_TOKEN_A", "secret-from-env")
    monkeypatch.setenv("SG_TEST_DIR", str(tmp_path))
    (tmp_path / "tokens.yaml").write_text('svc-b: "secret-from-file"\n')
    middleware = [
        {"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapEnv": "SG_TEST_TOKENS"}},
        {"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapFile": "${SG_TEST_DIR}/tokens.yaml"}},
    ]
    settings = make_settings(tmp_path, middleware)
    async with client(secured(settings)) as http:
        assert (await http.get("/whoami", headers=basic("svc-a", "secret-from-env"))).json()[
            "user"
        ] == "svc-a"
        assert (await http.get("/whoami", headers=basic("svc-b", "secret-from-file"))).json()[
            "user"
        ] == "svc-b"


async def test_htpasswd_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_HTPASSWD", htpasswd_line("alice", "pw") + "\n")
    settings = make_settings(
        tmp_path, [{"type": "BasicAuthMiddleware", "conf": {"htpasswdEnv": "SG_TEST_HTPASSWD"}}]
    )
    async with client(secured(settings)) as http:
        assert (await http.get("/whoami", headers=basic("alice", "pw"))).status_code == 200


@pytest.mark.parametrize("prefix", ["$2y$", "$2b$", "$2a$"])
async def test_bcrypt_prefixes(tmp_path: Path, prefix: str) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(htpasswd_line("alice", "s3cret", prefix) + "\n")
    settings = make_settings(tmp_path, [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(path)}}])
    async with client(secured(settings)) as http:
        assert (await http.get("/whoami", headers=basic("alice", "s3cret"))).status_code == 200
        assert (await http.get("/whoami", headers=basic("alice", "s3cret!"))).status_code == 401


def test_htpasswd_rules() -> None:
    line = htpasswd_line("alice", "pw")
    assert parse_htpasswd(f"# comment\n\n{line}\n", "w")["alice"].startswith(b"$2b$")
    for text, message in [
        ("alice:$apr1$abc$0123456789012345678901\n", r"line 1 \(user 'alice'\): only bcrypt"),
        ("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "only bcrypt"),
        ("no-colon-here\n", "line 1: expected 'user:bcrypt-hash'"),
        (f"{line}\n{line}\n", "line 2: user 'alice' appears twice"),
        ("# only comments\n", "defines no users"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_htpasswd(text, "w")


def test_audit_log_must_be_writable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    settings = make_settings(tmp_path, auditLogFile=str(tmp_path / "file" / "audit.log"))
    with pytest.raises(ConfigError, match=r"gateway\.auditLogFile: cannot write"):
        build_security(echo_app(settings), settings)
