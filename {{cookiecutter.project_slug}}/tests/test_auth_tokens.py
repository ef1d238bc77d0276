"""Every way a JWT setup is known to fail, and the API refusing each one.

Each forged token starts from the claims of a real, valid session and breaks
exactly one thing; the control case proves the forging itself is sound.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session

from app.models.user import User
from tests.conftest import MakeApp
from tests.fixtures.auth import JWT_TEST_SECRET, Login, bearer
from tests.support import make_settings

ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    parts = [json.dumps(header).encode(), json.dumps(payload).encode()]
    return ".".join([*(b64(part) for part in parts), b64(signature)])


def hs(payload: dict[str, Any], key: str | bytes = JWT_TEST_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=alg)


def hmac_signed(header: dict[str, Any], payload: dict[str, Any], key: bytes, digest: Any) -> str:
    """Sign by hand, for what PyJWT itself refuses to produce."""
    signing_input = ".".join(b64(json.dumps(part).encode()) for part in (header, payload))
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def claims(user: User, login: Login) -> dict[str, Any]:
    """The claims of a valid access token of a live session."""
    token = login(user.email)["access_token"]
    return dict(jwt.decode(token, options={"verify_signature": False}))


def shifted(claims: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {key: value for key, value in {**claims, **changes}.items() if value is not None}


NOW = int(time.time())
Forge = Callable[[dict[str, Any]], str]

#: (case, forge): every one must be refused with 401.
FORGERIES: list[tuple[str, Forge]] = [
    ("alg none", lambda c: unsigned({"alg": "none", "typ": "JWT"}, c)),
    ("alg None", lambda c: unsigned({"alg": "None", "typ": "JWT"}, c)),
    ("alg nOnE", lambda c: unsigned({"alg": "nOnE", "typ": "JWT"}, c)),
    (
        "alg outside the list",
        lambda c: hmac_signed({"alg": "HS512"}, c, JWT_TEST_SECRET.encode(), hashlib.sha512),
    ),
    ("wrong key", lambda c: hs(c, key="another-secret-that-is-long-enough-for-hs256")),
    ("tampered payload", lambda c: _tamper(hs(c), sub="999999")),
    ("stripped signature", lambda c: hs(c).rsplit(".", 1)[0] + "."),
    ("two segments", lambda c: ".".join(hs(c).split(".")[:2])),
    ("garbage", lambda c: "this-is-not-a-token"),
    ("expired", lambda c: hs(shifted(c, iat=NOW - 3600, exp=NOW - 1800))),
    ("nbf in the future", lambda c: hs(shifted(c, nbf=NOW + 600))),
    ("iat in the future", lambda c: hs(shifted(c, iat=NOW + 600, exp=NOW + 900))),
    ("no exp", lambda c: hs(shifted(c, exp=None))),
    ("no sub", lambda c: hs(shifted(c, sub=None))),
    ("no jti", lambda c: hs(shifted(c, jti=None))),
    ("numeric sub", lambda c: hs(shifted(c, sub=int(c["sub"])))),
    ("wrong iss", lambda c: hs(shifted(c, iss="someone-else"))),
    ("no iss", lambda c: hs(shifted(c, iss=None))),
    ("wrong aud", lambda c: hs(shifted(c, aud="another-api"))),
    ("no aud", lambda c: hs(shifted(c, aud=None))),
    ("refresh token as access", lambda c: hs(shifted(c, type="refresh"))),
    ("numeric-string exp", lambda c: hs(shifted(c, exp=str(c["exp"])))),
    ("exp beyond the maximum lifetime", lambda c: hs(shifted(c, exp=c["iat"] + 30 * 86_400))),
    ("unknown kid", lambda c: jwt.encode(c, JWT_TEST_SECRET, "HS256", headers={"kid": "k1"})),
    ("unknown session", lambda c: hs(shifted(c, sid="00000000-0000-4000-8000-000000000000"))),
    ("another user's session", lambda c: hs(shifted(c, sub=str(int(c["sub"]) + 1)))),
]


def _tamper(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, b64(json.dumps({**decoded, **changes}).encode()), signature])


def test_the_forging_harness_makes_valid_tokens(
    anonymous_client: FlaskClient, claims: dict[str, Any]
) -> None:
    assert anonymous_client.get(ME, headers=bearer(hs(claims))).status_code == 200


@pytest.mark.parametrize(("case", "forge"), FORGERIES, ids=[case for case, _ in FORGERIES])
def test_forged_access_tokens_are_refused(
    anonymous_client: FlaskClient, claims: dict[str, Any], case: str, forge: Forge
) -> None:
    response = anonymous_client.get(ME, headers=bearer(forge(claims)))
    assert response.status_code == 401, f"{case}: {response.json}"
    assert response.json is not None
    assert response.json["error"]["code"] in {
        "AUTH_TOKEN_INVALID",
        "AUTH_TOKEN_EXPIRED",
        "AUTH_TOKEN_REVOKED",
    }


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"]
)
def test_missing_or_malformed_authorization_is_refused(
    anonymous_client: FlaskClient, header: str
) -> None:
    response = anonymous_client.get(ME, headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json is not None
    assert response.json["error"]["code"] == "AUTH_REQUIRED"


def test_an_access_token_is_not_a_refresh_token(
    anonymous_client: FlaskClient, user: User, login: Login
) -> None:
    tokens = login(user.email)
    response = anonymous_client.post(REFRESH, json={"refresh_token": tokens["access_token"]})
    assert response.status_code == 401
    assert response.json is not None
    assert response.json["error"]["code"] == "AUTH_TOKEN_INVALID"


def test_tokens_of_a_revoked_session_are_refused(
    anonymous_client: FlaskClient, user: User, login: Login
) -> None:
    tokens = login(user.email)
    anonymous_client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    response = anonymous_client.get(ME, headers=bearer(tokens["access_token"]))
    assert response.json["error"]["code"] == "AUTH_TOKEN_REVOKED"  # type: ignore[index]


def test_tokens_of_a_deactivated_user_are_refused(
    anonymous_client: FlaskClient, admin_client: FlaskClient, user: User, login: Login
) -> None:
    tokens = login(user.email)
    assert admin_client.post(f"/api/v1/users/{user.id}/deactivate").status_code == 200
    response = anonymous_client.get(ME, headers=bearer(tokens["access_token"]))
    assert response.status_code == 401
    refresh = anonymous_client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401


def test_tokens_of_a_deleted_user_are_refused(
    anonymous_client: FlaskClient, user: User, login: Login, session: Session
) -> None:
    tokens = login(user.email)
    session.delete(session.get_one(User, user.id))
    session.commit()
    response = anonymous_client.get(ME, headers=bearer(tokens["access_token"]))
    assert response.status_code == 401
    assert response.json["error"]["code"] == "AUTH_TOKEN_REVOKED"  # type: ignore[index]


def test_expired_refresh_tokens_are_refused(
    anonymous_client: FlaskClient, user: User, login: Login
) -> None:
    refresh_claims = jwt.decode(
        login(user.email)["refresh_token"], options={"verify_signature": False}
    )
    expired = hs({**refresh_claims, "iat": NOW - 100, "exp": NOW - 50})
    response = anonymous_client.post(REFRESH, json={"refresh_token": expired})
    assert response.json["error"]["code"] == "AUTH_TOKEN_EXPIRED"  # type: ignore[index]


# Asymmetric keys: other services verify with the public key; it must never sign.


def write_keys(directory: Path, algorithm: str) -> tuple[Path, Path]:
    private: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    private_file, public_file = directory / "jwt.pem", directory / "jwt.pub.pem"
    private_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_file, public_file


@pytest.fixture(params=["RS256", "EdDSA"])
def asymmetric_app(request: pytest.FixtureRequest, tmp_path: Path, make_app: MakeApp) -> Flask:
    private_file, public_file = write_keys(tmp_path, request.param)
    return make_app(
        JWT_ALGORITHM=request.param,
        JWT_PRIVATE_KEY_FILE=private_file,
        JWT_PUBLIC_KEY_FILE=public_file,
    )


@pytest.fixture
def app(request: pytest.FixtureRequest, make_app: MakeApp) -> Flask:
    if "asymmetric_app" in request.fixturenames:
        asymmetric: Flask = request.getfixturevalue("asymmetric_app")
        return asymmetric
    return make_app()


def test_asymmetric_tokens_work_and_name_their_key(
    asymmetric_app: Flask, user: User, login: Login, anonymous_client: FlaskClient
) -> None:
    token = login(user.email)["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == asymmetric_app.extensions["settings"].JWT_ALGORITHM
    assert len(header["kid"]) == 16
    assert anonymous_client.get(ME, headers=bearer(token)).status_code == 200


def test_hs256_signed_with_the_public_key_is_refused(
    asymmetric_app: Flask, user: User, login: Login, anonymous_client: FlaskClient
) -> None:
    token = login(user.email)["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    public_pem = asymmetric_app.extensions["settings"].JWT_PUBLIC_KEY_FILE.read_bytes()
    header = {"alg": "HS256", "typ": "JWT", "kid": jwt.get_unverified_header(token)["kid"]}
    forged = hmac_signed(header, claims, public_pem, hashlib.sha256)
    response = anonymous_client.get(ME, headers=bearer(forged))
    assert response.status_code == 401
    assert response.json["error"]["code"] == "AUTH_TOKEN_INVALID"  # type: ignore[index]


def test_asymmetric_algorithms_need_their_key_files() -> None:
    from app.core.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="JWT_PRIVATE_KEY_FILE"):
        make_settings(JWT_ALGORITHM="RS256")
