"""The database: engine, per-request session, migrations, and the items resource."""

from __future__ import annotations

from flask import Flask

from app.api.v1 import items as items_api
from app.core import db
from app.models import item  # noqa: F401 - its table, for the migrations


def init_app(app: Flask) -> None:
    db.init_app(app)
    app.register_blueprint(items_api.bp)
