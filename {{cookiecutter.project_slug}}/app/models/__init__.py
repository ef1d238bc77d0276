"""SQLModel tables. Import every model here so migrations see all of them."""

from app.models.base import CoreModel as CoreModel
from app.models.item import Item as Item
{%- if cookiecutter.use_auth %}
from app.models.user import AuthSession as AuthSession
from app.models.user import User as User
{%- endif %}
