"""SQLModel tables. Import every model here so migrations see all of them."""

from app.models.base import CoreModel
from app.models.item import Item

__all__ = ["CoreModel", "Item"]
