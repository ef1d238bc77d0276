"""Access and refresh tokens: JWTs issued and checked with PyJWT.

Every token carries ``sub`` (the user id, a string), ``sid`` (its sign-in
session), ``jti``, ``iat``, ``exp``, ``iss``, ``aud`` and ``type`` (``access`` or
``refresh``); an access token also names the user's ``roles`` as they were at
issue time, for clients to read. The service never trusts them: authorization
and rate-limit exemptions go by the roles the user holds now.

Decoding accepts exactly one algorithm (the configured one) and, beyond what
PyJWT checks, rejects what it would let through: a token of the other type,
non-integer times, a lifetime longer than the configured one, and a ``kid``
that is not ours.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization

from app.core.auth.errors import TokenExpired, TokenInvalid

TokenType = Literal["access", "refresh"]
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "iss", "aud", "type", "sid"]
ASYMMETRIC = ("RS256", "EdDSA")
MAX_ID_DIGITS = 10
#: Tokens remembered as verified by each process.
VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class SigningKeys:
    """The key material for one algorithm; ``kid`` identifies a public key."""

    algorithm: str
    signing_key: Any
    verifying_key: Any
    kid: str | None = None


def load_keys(
    algorithm: str, *, secret: str, private_key_file: Path | None, public_key_file: Path | None
) -> SigningKeys:
    """HS256 signs with ``secret``; RS256 and EdDSA with PEM key files."""
    if algorithm not in ASYMMETRIC:
        return SigningKeys(algorithm, secret, secret)
    if private_key_file is None or public_key_file is None:
        raise ValueError(f"{algorithm} needs JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE.")
    private_key = serialization.load_pem_private_key(private_key_file.read_bytes(), password=None)
    public_key = serialization.load_pem_public_key(public_key_file.read_bytes())
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SigningKeys(algorithm, private_key, public_key, kid=hashlib.sha256(der).hexdigest()[:16])


@dataclass(frozen=True)
class Claims:
    """What a valid token says."""

    user_id: int
    session_id: uuid.UUID
    token_id: str
    token_type: TokenType
    issued_at: int
    expires_at: int
    roles: tuple[str, ...] = ()


class TokenCodec:
    """Issue and check the tokens of one application."""

    def __init__(
        self,
        keys: SigningKeys,
        *,
        issuer: str,
        audience: str,
        access_ttl: int,
        refresh_ttl: int,
        leeway: int,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.lifetimes: dict[TokenType, int] = {"access": access_ttl, "refresh": refresh_ttl}
        self._verified: OrderedDict[tuple[str, TokenType], Claims] = OrderedDict()
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        user_id: int,
        session_id: uuid.UUID,
        kind: TokenType,
        roles: tuple[str, ...] = (),
    ) -> tuple[str, Claims]:
        """A signed token of ``kind`` and its claims."""
        now = int(time.time())
        claims = Claims(
            user_id=user_id,
            session_id=session_id,
            token_id=uuid.uuid4().hex,
            token_type=kind,
            issued_at=now,
            expires_at=now + self.lifetimes[kind],
            roles=roles if kind == "access" else (),
        )
        payload = {
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": claims.token_id,
            "type": kind,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
            "iss": self.issuer,
            "aud": self.audience,
        }
        if claims.roles:
            payload["roles"] = list(claims.roles)
        headers = {"kid": self.keys.kid} if self.keys.kid else None
        token = jwt.encode(payload, self.keys.signing_key, self.keys.algorithm, headers=headers)
        return token, claims

    def decode(self, token: str, *, expected: TokenType) -> Claims:
        """Check ``token`` and return its claims; raise ``TokenExpired`` or ``TokenInvalid``.

        A token that passed every check is remembered (the last
        ``VERIFIED_CACHE_SIZE``): the same string decodes to the same claims, so
        its next uses only check that it has not expired since.
        """
        now = time.time()
        with self._lock:
            verified = self._verified.get((token, expected))
            if verified is not None:
                self._verified.move_to_end((token, expected))
        if verified is not None:
            if now >= verified.expires_at + self.leeway:
                raise TokenExpired()
            return verified
        claims = self._decode(token, expected)
        with self._lock:
            self._verified[(token, expected)] = claims
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return claims

    def _decode(self, token: str, expected: TokenType) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
            payload = jwt.decode(
                token,
                self.keys.verifying_key,
                algorithms=[self.keys.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.PyJWTError as exc:
            raise TokenInvalid() from exc
        if header.get("kid") != self.keys.kid:
            raise TokenInvalid("The token was signed with an unknown key.")
        return self._claims(payload, expected)

    def _claims(self, payload: dict[str, Any], expected: TokenType) -> Claims:
        issued_at, expires_at = payload["iat"], payload["exp"]
        # PyJWT converts with int(), so it accepts "1700000000" and 1.7e9; we do not.
        if not all(type(value) is int for value in (issued_at, expires_at)):
            raise TokenInvalid("The token's times must be integers.")
        if payload["type"] != expected:
            raise TokenInvalid(f"Expected a token of type {expected!r}.")
        if expires_at - issued_at > self.lifetimes[expected]:
            raise TokenInvalid("The token lives longer than this service allows.")
        subject, session, token_id = payload["sub"], payload["sid"], payload["jti"]
        if not (subject.isascii() and subject.isdigit() and len(subject) <= MAX_ID_DIGITS):
            raise TokenInvalid()
        try:
            session_id = uuid.UUID(str(session))
        except ValueError as exc:
            raise TokenInvalid() from exc
        roles = payload.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise TokenInvalid()
        return Claims(
            user_id=int(subject),
            session_id=session_id,
            token_id=token_id,
            token_type=expected,
            issued_at=issued_at,
            expires_at=expires_at,
            roles=tuple(roles),
        )
