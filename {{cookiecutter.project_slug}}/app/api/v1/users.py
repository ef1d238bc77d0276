"""User administration: admins only, for every endpoint of this blueprint."""

from __future__ import annotations

from flask import Blueprint, Response

from app.api.auth import current_user
from app.core.auth import require_roles
from app.core.db import get_session
from app.core.openapi import validate
from app.core.responses import success
from app.schemas.auth import UserPublic
from app.schemas.page import PageQuery
from app.schemas.user import UserAdminUpdate, UserId, UsersPublic
from app.services import users as service

bp = Blueprint("users", __name__, url_prefix="/api/v1/users")


@bp.get("")
@require_roles("admin")
@validate(data=UsersPublic, tags=["users"])
def list_users(query: PageQuery) -> Response:
    """List users, oldest first."""
    page, count = service.list_users(get_session(), limit=query.limit, offset=query.offset)
    return success(UsersPublic.of(page, count=count, query=query))


@bp.get("/<user_id>")
@require_roles("admin")
@validate(data=UserPublic, errors=[404], tags=["users"])
def get_user(user_id: UserId) -> Response:
    """Get a user."""
    return success(UserPublic.model_validate(service.get_user(get_session(), user_id=user_id)))


@bp.patch("/<user_id>")
@require_roles("admin")
@validate(data=UserPublic, errors=[404, 409], tags=["users"])
def update_user(user_id: UserId, json: UserAdminUpdate) -> Response:
    """Change a user's name, roles or active flag."""
    user = service.update_user(get_session(), actor=current_user(), user_id=user_id, data=json)
    return success(UserPublic.model_validate(user))


@bp.post("/<user_id>/deactivate")
@require_roles("admin")
@validate(data=UserPublic, errors=[404, 409], tags=["users"])
def deactivate_user(user_id: UserId) -> Response:
    """Disable a user's account and end all of its sessions."""
    user = service.update_user(
        get_session(),
        actor=current_user(),
        user_id=user_id,
        data=UserAdminUpdate(is_active=False),
    )
    return success(UserPublic.model_validate(user))
