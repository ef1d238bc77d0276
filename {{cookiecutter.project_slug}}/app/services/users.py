"""Account administration: what admins (and the ``flask users`` commands) do to users."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core.auth.errors import UserExists
from app.core.exceptions import ConflictError, NotFoundError
from app.models.user import User
from app.schemas.auth import MeUpdate
from app.schemas.user import UserAdminUpdate
from app.services.page import fetch_page
from app.services.sessions import revoke_sessions


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"User {user_id} does not exist.", code="USER_NOT_FOUND")
    return user


def get_user_by_email(session: Session, *, email: str) -> User:
    user = session.exec(select(User).where(User.email == email.lower())).first()
    if user is None:
        raise NotFoundError(f"No user has the email {email!r}.", code="USER_NOT_FOUND")
    return user


def list_users(session: Session, *, limit: int, offset: int) -> tuple[list[User], int]:
    """One page of users, oldest first, and the total number of users."""
    return fetch_page(session, User, order_by=(col(User.id),), limit=limit, offset=offset)


def update_profile(session: Session, *, user: User, data: MeUpdate) -> User:
    """Change a user's own email or name (the caller has checked ``current_password``)."""
    changes = data.model_dump(exclude_unset=True, exclude={"current_password"})
    try:
        with session.begin_nested():
            user.sqlmodel_update(changes)
            session.add(user)
    except IntegrityError as exc:
        raise UserExists() from exc
    return user


def update_user(session: Session, *, actor: User, user_id: int, data: UserAdminUpdate) -> User:
    """An admin's change to a user: name, roles, active. Deactivating ends every session."""
    user = get_user(session, user_id=user_id)
    changes = data.model_dump(exclude_unset=True)
    if user.id == actor.id and (
        changes.get("is_active") is False or "admin" not in changes.get("roles", user.roles)
    ):
        # Otherwise the last admin could lock everyone out of administration.
        raise ConflictError(
            "You cannot deactivate yourself or drop your own admin role.",
            code="USER_SELF_LOCKOUT",
        )
    user.sqlmodel_update(changes)
    session.add(user)
    if changes.get("is_active") is False:
        revoke_sessions(session, user_id=user.id, reason="deactivated")
    return user


def set_roles(session: Session, *, user: User, roles: list[str]) -> User:
    user.roles = sorted(set(roles))
    session.add(user)
    return user


def deactivate(session: Session, *, user: User) -> int:
    """Disable the account and end its sessions; return how many sessions ended."""
    user.is_active = False
    session.add(user)
    return revoke_sessions(session, user_id=user.id, reason="deactivated")
