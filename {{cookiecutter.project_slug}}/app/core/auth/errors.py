"""The errors of authentication and authorization, each with its stable code."""

from __future__ import annotations

from typing import Any

from app.core.exceptions import ConflictError, ForbiddenError, UnauthorizedError


class AuthenticationError(UnauthorizedError):
    """A 401: the request did not prove who sent it. Tells the client how to (RFC 6750)."""

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')


class AuthenticationRequired(AuthenticationError):
    code = "AUTH_REQUIRED"
    message = "Send an access token: 'Authorization: Bearer <token>'."


class InvalidCredentials(AuthenticationError):
    code = "AUTH_INVALID_CREDENTIALS"
    message = "The email or the password is wrong."


class TokenInvalid(AuthenticationError):
    code = "AUTH_TOKEN_INVALID"
    message = "The token is not valid."


class TokenExpired(AuthenticationError):
    code = "AUTH_TOKEN_EXPIRED"
    message = "The token has expired."


class TokenRevoked(AuthenticationError):
    code = "AUTH_TOKEN_REVOKED"
    message = "The session of this token has ended; sign in again."


class AccountDisabled(ForbiddenError):
    code = "AUTH_ACCOUNT_DISABLED"
    message = "This account is disabled."


class NotAllowed(ForbiddenError):
    code = "AUTH_FORBIDDEN"
    message = "You are not allowed to do this."


class WrongPassword(ForbiddenError):
    """The current password given to confirm a change is wrong (the token is fine)."""

    code = "AUTH_INVALID_CREDENTIALS"
    message = "The current password is wrong."


class UserExists(ConflictError):
    code = "AUTH_USER_EXISTS"
    message = "A user with this email already exists."
