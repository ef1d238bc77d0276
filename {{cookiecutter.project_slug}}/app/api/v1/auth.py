"""Sign-up, sign-in, tokens, your profile and your sessions."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, request
from pydantic import MISSING

from app.api.auth import authenticator, current_user
from app.core.access import public
from app.core.auth import current_session_id, current_user_id
from app.core.db import get_session
from app.core.exceptions import NotFoundError
from app.core.openapi import validate
from app.core.rate_limit import address_key, rate_limit
from app.core.responses import success
from app.schemas.auth import (
    LoginRequest,
    MeUpdate,
    PasswordChange,
    RefreshRequest,
    SessionPublic,
    SessionsPublic,
    TokenPair,
    UserCreate,
    UserPublic,
)
from app.services import auth as service
from app.services import sessions as sessions_service
from app.services import users as users_service

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

#: Guessing passwords and creating accounts in bulk are limited per client
#: address; sign-ups also per account named in the body. Failed sign-ins are
#: throttled per account and address besides (``app.core.auth.throttle``),
#: which slows a guesser down without locking the owner out.
ATTEMPTS_PER_ADDRESS = "10/minute;100/hour"
ATTEMPTS_PER_ACCOUNT = "5/minute;30/hour"
REFRESHES_PER_ADDRESS = "30/minute"
CHANGES_PER_USER = "5/minute;20/hour"


def _account_key() -> str:
    """The account a sign-up names, as a rate-limit key."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str):
        return address_key()
    return f"account:{email.strip().lower()[:254]}"


def _client() -> service.Client:
    return service.Client(user_agent=request.user_agent.string, ip=request.remote_addr)


@bp.post("/register")
@public
@rate_limit(ATTEMPTS_PER_ADDRESS, key=address_key)
@rate_limit(ATTEMPTS_PER_ACCOUNT, key=_account_key)
@validate(data=UserPublic, status=201, errors=[409], tags=["auth"])
def register(json: UserCreate) -> Response:
    """Create an account.

    A taken email answers 409 `AUTH_USER_EXISTS`. That tells who has an account,
    which a sign-up without email confirmation cannot avoid: the only way to keep
    it secret is to answer every sign-up alike and tell the owner of the address
    by mail. Guessing is throttled per address and per named account instead.
    """
    user = authenticator().register(get_session(), data=json)
    return success(UserPublic.model_validate(user), status=201)


@bp.post("/login")
@public
@rate_limit(ATTEMPTS_PER_ADDRESS, key=address_key)
@validate(data=TokenPair, errors=[401, 403], tags=["auth"])
def login(json: LoginRequest) -> Response:
    """Sign in: a new session with an access and a refresh token."""
    pair = authenticator().login(
        get_session(), email=json.email, password=json.password, client=_client()
    )
    return success(pair)


@bp.post("/refresh")
@public
@rate_limit(REFRESHES_PER_ADDRESS, key=address_key)
@validate(data=TokenPair, errors=[401, 403], tags=["auth"])
def refresh(json: RefreshRequest) -> Response:
    """Swap a refresh token for a new token pair (the old refresh token stops working)."""
    return success(authenticator().refresh(get_session(), refresh_token=json.refresh_token))


@bp.post("/logout")
@validate(status=204, tags=["auth"])
def logout() -> Response:
    """End the session of this access token."""
    sessions_service.revoke_sessions(
        get_session(), user_id=current_user_id(), reason="logout", only=current_session_id()
    )
    return Response(status=204)


@bp.post("/logout-all")
@validate(status=204, tags=["auth"])
def logout_all() -> Response:
    """End every session of your account, this one included."""
    sessions_service.revoke_sessions(get_session(), user_id=current_user_id(), reason="logout_all")
    return Response(status=204)


@bp.get("/me")
@validate(data=UserPublic, tags=["auth"])
def me() -> Response:
    """Your account."""
    return success(UserPublic.model_validate(current_user()))


@bp.patch("/me")
@rate_limit(CHANGES_PER_USER)
@validate(data=UserPublic, errors=[403, 409], tags=["auth"])
def update_me(json: MeUpdate) -> Response:
    """Change your name, or your email (send `current_password` with it)."""
    user = current_user()
    if json.current_password is not MISSING:
        authenticator().confirm_password(user, json.current_password)
    user = users_service.update_profile(get_session(), user=user, data=json)
    return success(UserPublic.model_validate(user))


@bp.post("/password")
@rate_limit(CHANGES_PER_USER)
@validate(status=204, errors=[403], tags=["auth"])
def change_password(json: PasswordChange) -> Response:
    """Change your password; every other session ends."""
    authenticator().change_password(
        get_session(),
        user=current_user(),
        current_password=json.current_password,
        new_password=json.new_password,
        keep_session=current_session_id(),
    )
    return Response(status=204)


@bp.get("/sessions")
@validate(data=SessionsPublic, tags=["auth"])
def sessions() -> Response:
    """Your active sessions, newest first."""
    found = sessions_service.active_sessions(get_session(), user_id=current_user_id())
    this = current_session_id()
    listed = [
        SessionPublic.model_validate(item).model_copy(update={"current": item.id == this})
        for item in found
    ]
    return success(SessionsPublic(data=listed, count=len(listed)))


@bp.delete("/sessions/<session_id>")
@validate(status=204, errors=[404], tags=["auth"])
def revoke_session(session_id: uuid.UUID) -> Response:
    """End one of your sessions."""
    ended = sessions_service.revoke_sessions(
        get_session(), user_id=current_user_id(), reason="revoked", only=session_id
    )
    if not ended:
        raise NotFoundError(f"You have no active session {session_id}.", code="SESSION_NOT_FOUND")
    return Response(status=204)
