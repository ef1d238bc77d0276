"""Ownership as a scoping rule: a row with an ``owner_id`` belongs to that user.

Users see and change only their own rows (another user's row answers 404, as if
it did not exist); admins see every row. New rows are stamped with their creator.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

from app.core.auth.context import current_principal


class OwnerRule:
    def where(self, model: type[Any]) -> list[ColumnElement[bool]]:
        owner_id = getattr(model, "owner_id", None)
        if owner_id is None:
            return []
        principal = current_principal()
        return [] if principal.is_admin else [owner_id == principal.user_id]

    def stamp(self, model: type[Any]) -> dict[str, Any]:
        return {"owner_id": current_principal().user_id} if hasattr(model, "owner_id") else {}
