"""Migrations: they build the schema from nothing, tear it down, and match the models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from sqlmodel import SQLModel

from app import create_app
from app.core.db import db, get_migrations
from tests.fixtures.database import temporary_database
from tests.support import make_settings


@pytest.fixture
def empty_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app on a database of its own, with no tables yet."""
    with temporary_database(tmp_path_factory) as url:
        app = create_app(make_settings(DATABASE_URL=url))
        yield app
        with app.app_context():
            db.engine.dispose()


def tables(app: Flask) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_table_and_downgrade_removes_them(empty_app: Flask) -> None:
    with empty_app.app_context():
        get_migrations().upgrade()
    assert tables(empty_app) == set(SQLModel.metadata.tables)

    with empty_app.app_context():
        get_migrations().downgrade("base")
    assert tables(empty_app) == set()


def test_models_and_migrations_agree(empty_app: Flask) -> None:
    with empty_app.app_context():
        migrations = get_migrations()
        migrations.upgrade()
        assert migrations.compare_metadata() == []


def test_the_drift_check_notices_a_model_change(empty_app: Flask) -> None:
    with empty_app.app_context():
        get_migrations().upgrade()
    column = sa.Column("added_without_a_migration", sa.Integer())
    items = SQLModel.metadata.tables["items"]
    items.append_column(column)
    try:
        with empty_app.app_context():
            diffs = get_migrations().compare_metadata()
    finally:
        items._columns.remove(column)
    assert [diff[0] for diff in diffs] == ["add_column"]


def flask_cli(app: Flask, *args: str) -> Result:
    """Run ``flask <args>`` against ``app`` (the ``flask`` command pushes an app context too)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def test_the_cli_check_passes_on_a_migrated_database(empty_app: Flask) -> None:
    upgraded = flask_cli(empty_app, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    checked = flask_cli(empty_app, "db", "check")
    assert checked.exit_code == 0, checked.output
    assert "No changes detected" in checked.output


def test_the_cli_check_fails_before_migrating(empty_app: Flask) -> None:
    result = flask_cli(empty_app, "db", "check")
    assert result.exit_code == 1
    assert "Changes detected" in result.output


def test_the_cli_downgrades_to_base(empty_app: Flask) -> None:
    assert flask_cli(empty_app, "db", "upgrade").exit_code == 0
    downgraded = flask_cli(empty_app, "db", "downgrade", "base")
    assert downgraded.exit_code == 0, downgraded.output
    assert tables(empty_app) == set()
